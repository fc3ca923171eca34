"""Imports run one way: readers and writers (``mmdet_covid/io``) at the bottom, then
datasets and models, then engine / evaluation / scan / visualisation, then ``apis`` (and
the tools over it). Every module of the package is parsed, not imported, and every import
read, those inside functions included: a lower layer imports no higher one, not even
lazily to dodge a cycle. A tool imports the package, never another tool, and neither a
tool nor a test changes the module search path."""
import ast
import os
import os.path as osp
from typing import Iterator, List, Tuple

import pytest

PACKAGE = 'mmdet_covid'
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ROOT = osp.join(REPO, PACKAGE)

# The layer of each subpackage; a module imports from its own layer or lower ones.
# ``utils`` and ``version`` are not placed: every layer uses them.
LAYERS = {
    'io': 0,
    'datasets': 1, 'models': 1,
    'engine': 2, 'evaluation': 2, 'scan': 2, 'visualization': 2,
    'apis': 3,
}
UNPLACED = {'utils', 'version'}
# Within one layer: these pairs must not import each other in the named direction.
FORBIDDEN = {
    ('io', subpackage) for subpackage in set(LAYERS) | UNPLACED if subpackage != 'io'
} | {('scan', 'apis'), ('evaluation', 'engine')}


def package_modules() -> Iterator[Tuple[str, str]]:
    """(path relative to the repository, dotted module name) of every module."""
    for folder, _, files in os.walk(ROOT):
        for name in sorted(files):
            if name.endswith('.py'):
                path = osp.join(folder, name)
                rel = osp.relpath(path, osp.dirname(ROOT))
                dotted = rel[:-len('.py')].replace(os.sep, '.')
                yield rel, dotted[:-len('.__init__')] if name == '__init__.py' else dotted


def imported_modules(source: str, module: str, is_package: bool) -> List[Tuple[int, str]]:
    """(line, absolute dotted name) of every import in ``source``, at any depth.

    Args:
        source: the module's text.
        module: its dotted name, to resolve relative imports.
        is_package: whether it is a package's ``__init__``.

    Returns:
        For ``from X import a, b``: X, and X.a, X.b when X is the top package (there
        the names are subpackages: ``from .. import apis``).
    """
    here = module.split('.') if is_package else module.split('.')[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                name = '.'.join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            found.append((node.lineno, name))
            if name == PACKAGE:
                found += [(node.lineno, f'{name}.{alias.name}') for alias in node.names]
    return found


def subpackage_of(dotted: str) -> str:
    """``mmdet_covid.scan.report`` -> ``scan``; the top package itself -> ''."""
    parts = dotted.split('.')
    return parts[1] if len(parts) > 1 else ''


def violations(rel: str, module: str, source: str) -> List[str]:
    """Every import of ``source`` that breaks :data:`LAYERS` or :data:`FORBIDDEN`,
    as ``path:line: ...``."""
    own = subpackage_of(module)
    if own not in LAYERS:
        return []
    found = []
    for line, name in imported_modules(source, module, rel.endswith('__init__.py')):
        if name.split('.')[0] != PACKAGE:
            continue
        target = subpackage_of(name)
        if not target or target == own:
            continue
        if (own, target) in FORBIDDEN:
            found.append(f'{rel}:{line}: {own}/ imports {name}; {own}/ must import nothing '
                         f'from {target}/')
        elif target in LAYERS and LAYERS[target] > LAYERS[own]:
            found.append(f'{rel}:{line}: {own}/ (layer {LAYERS[own]}) imports {name} '
                         f'(layer {LAYERS[target]}); a lower layer never imports a higher one')
    return found


def test_every_subpackage_has_a_layer():
    subpackages = {name for name in os.listdir(ROOT)
                   if osp.isfile(osp.join(ROOT, name, '__init__.py'))}
    subpackages |= {name[:-3] for name in os.listdir(ROOT)
                    if name.endswith('.py') and name != '__init__.py'}
    assert subpackages - set(LAYERS) - UNPLACED == set(), (
        'place the new subpackage in LAYERS of tests/test_imports.py')


def test_imports_run_one_way():
    found = []
    for rel, module in package_modules():
        with open(osp.join(osp.dirname(ROOT), rel), encoding='utf-8') as f:
            found += violations(rel, module, f.read())
    assert not found, '\n'.join(found)


@pytest.mark.parametrize('module,source,bad_line', [
    # a function-level import that dodges a cycle is found, with its line
    ('mmdet_covid.scan.report', 'import numpy\n\ndef f():\n    from ..apis import init_ssm\n', 4),
    ('mmdet_covid.evaluation.metrics.cls_metric',
     'from ...engine.fileio import AtomicLocalBackend\n', 1),
    ('mmdet_covid.io.ct_io', 'from ..utils.strict_json import strict_json\n', 1),
    ('mmdet_covid.io.ct_io', 'import mmdet_covid.datasets.transforms\n', 1),
    ('mmdet_covid.datasets.transforms.load_ct_slice',
     'def f():\n    from ... import engine\n', 2),
])
def test_a_violation_names_the_file_and_the_line(module, source, bad_line):
    rel = module.replace('.', os.sep) + '.py'
    found = violations(rel, module, source)
    assert len(found) == 1 and found[0].startswith(f'{rel}:{bad_line}: '), found


@pytest.mark.parametrize('module,source', [
    ('mmdet_covid.io.scan_reader', 'from .ct_io import is_nifti\nimport numpy\n'),
    ('mmdet_covid.apis.scan_analysis', 'from ..scan.report import RESEARCH_USE\n'),
    ('mmdet_covid.scan', 'from .aggregation import scan_class\n'),  # a package's __init__
    ('mmdet_covid.evaluation.metrics.patient_cls_metric', 'from ...scan import scan_class\n'),
])
def test_imports_down_or_within_a_layer_pass(module, source):
    is_package = module.count('.') == 1
    rel = module.replace('.', os.sep) + ('/__init__.py' if is_package else '.py')
    assert violations(rel, module, source) == []


def python_files(folder: str) -> Iterator[str]:
    """Every ``.py`` file under ``folder``, as a path relative to the repository."""
    for path, _, files in os.walk(osp.join(REPO, folder)):
        for name in sorted(files):
            if name.endswith('.py'):
                yield osp.relpath(osp.join(path, name), REPO)


def tool_imports_and_search_path_changes(rel: str, source: str, tools: set) -> List[str]:
    """Every import of another tool (by module name) and every use of the ``path`` of
    ``sys`` in ``source``, as ``path:line: ...``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == 'path' and \
                isinstance(node.value, ast.Name) and node.value.id == 'sys':
            found.append(f'{rel}:{node.lineno}: changes the module search path; import '
                         'the package, or load a tool with tests.conftest.load_tool')
    for line, name in imported_modules(source, 'tools.x', False):
        if name and name.split('.')[0] in tools:
            found.append(f'{rel}:{line}: imports the tool {name}; move what it shares '
                         f'into {PACKAGE}/')
    return found


def test_tools_import_no_other_tool_and_nothing_changes_the_search_path():
    tools = {osp.splitext(osp.basename(p))[0] for p in python_files('tools')}
    found = []
    for rel in [*python_files('tools'), *python_files('tests')]:
        with open(osp.join(REPO, rel), encoding='utf-8') as f:
            found += tool_imports_and_search_path_changes(rel, f.read(), tools)
    assert not found, '\n'.join(found)


@pytest.mark.parametrize('source,bad_line', [
    # (the phrase spelt in two parts: a search of the sources for it finds no use)
    ('import os\nimport sys\nsys.' + 'path.insert(0, os.getcwd())\n', 3),
    ('def f():\n    from learning_curve import read_scalars\n', 2),
])
def test_a_tool_import_or_a_search_path_change_is_found(source, bad_line):
    found = tool_imports_and_search_path_changes('tools/x.py', source, {'learning_curve'})
    assert len(found) == 1 and found[0].startswith(f'tools/x.py:{bad_line}: '), found
