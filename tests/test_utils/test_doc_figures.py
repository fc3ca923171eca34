"""doc_figures: the figures of README.md and docs/ agree with the committed JSON they name.

The first tests pin the tag grammar and the comparison on tiny documents and a JSON file
written here; the last reads the real documentation.
"""
import glob
import json
import os.path as osp
import re

import pytest

from mmdet_covid.utils.doc_figures import check, check_markdown, find_tags, parse_key
from tests.conftest import REPO_ROOT

EVIDENCE = {
    'ssm': [{'iter': 900, 'cls/f1_weighted': 0.9497577, 'cls/accuracy': 95.0},
            {'iter': 1800, 'cls/f1_weighted': 0.9833311, 'cls/accuracy': 98.3333}],
    'groups': [{'cls': 'CP', 'hard': False, 'right': 94},
               {'cls': 'CP', 'hard': True, 'right': 0}],
    'accuracy': 0.9566667,
    'slices': 1800,
    'params': 8266598,
    'seconds': {'whole forward (test_step)': 0.0138488, 'a.b': 2.5},
    'runs': [{'f1': [0.712, 0.75]}],
    'delta': -0.131,
    'missing': None,
}


@pytest.fixture
def root(tmp_path):
    (tmp_path / 'docs' / 'results').mkdir(parents=True)
    (tmp_path / 'docs' / 'results' / 'e.json').write_text(json.dumps(EVIDENCE))
    return str(tmp_path)


def tag(key, scale=''):
    return f'<!-- fig docs/results/e.json {key}{" " + scale if scale else ""} -->'


def errors(text, root):
    return [check(t, root) for t in find_tags(text, 'page.md')]


def test_a_tag_is_read_with_its_figure_path_key_and_scale():
    text = ('intro\n'
            f'| x | **0.983**{tag("ssm[iter=1800].cls/f1_weighted")} '
            f'| 95.7%{tag("accuracy", "x100")} |\n')
    first, second = find_tags(text, 'page.md')
    assert (first.source, first.line, first.written) == ('page.md', 2, '0.983')
    assert first.path == 'docs/results/e.json'
    assert first.steps == [('key', 'ssm'), ('match', [('iter', '1800')]),
                           ('key', 'cls/f1_weighted')]
    assert (second.written, second.scale) == ('95.7', 100.0)


@pytest.mark.parametrize('written, key, scale', [
    ('weighted F1 0.950', 'ssm[iter=900].cls/f1_weighted', ''),     # rounds to 3 decimals
    ('F1 **0.9833**', 'ssm[iter=1800].cls/f1_weighted', ''),        # bold
    ('accuracy 98.3%', 'ssm[iter=1800].cls/accuracy', ''),           # a percentage as stored
    ('accuracy 95.7%', 'accuracy', 'x100'),                          # from a fraction
    ('accuracy `96%`', 'accuracy', 'x100'),                          # in code, 0 decimals
    ('slices: 1,800', 'slices', ''),                                 # thousands comma
    ('8.27M', 'params', '/1000000'),                                 # a unit
    ('13.8 ms', '"seconds"."whole forward (test_step)"', 'x1000'),   # quoted parts
    ('2.50', 'seconds."a.b"', ''),                                   # a dot inside a name
    ('hard CP right: 0', 'groups[cls=CP,hard=true].right', ''),      # two conditions
    ('range 0.71-0.75', 'runs[0].f1[1]', ''),                        # 0.75, not -0.75
    ('batch 8 (-13%', 'delta', 'x100'),                              # a sign after ( or space
])
def test_agreeing_figures_pass(root, written, key, scale):
    assert errors(written + tag(key, scale), root) == [None]


def test_a_tag_after_the_number_inside_bold_or_before_the_unit_agrees(root):
    text = (f'**0.983{tag("ssm[iter=1800].cls/f1_weighted")}** and '
            f'8.27{tag("params", "/1000000")}M and 95.7{tag("accuracy", "x100")}%')
    assert errors(text, root) == [None, None, None]


def test_a_figure_that_disagrees_names_page_line_figure_and_value(root):
    text = f'title\n\nweighted F1 0.957{tag("ssm[iter=900].cls/f1_weighted")}\n'
    (message,) = errors(text, root)
    assert message.startswith('page.md:3: <!-- fig docs/results/e.json ssm[iter=900]')
    assert 'the document says 0.957' in message and '0.9497577' in message
    assert 'which is 0.950 at 3 decimals' in message
    # Half a unit of the last written digit is the limit, both ways.
    assert errors('0.955' + tag('accuracy'), root) != [None]
    assert errors('0.9567' + tag('accuracy'), root) == [None]
    assert errors('0.9566' + tag('accuracy'), root) != [None]
    assert errors('96.6%' + tag('accuracy', 'x100'), root) != [None]
    assert errors('1,801' + tag('slices'), root) != [None]


@pytest.mark.parametrize('text, message', [
    ('0.9' + tag('ssm[iter=900].cls/f1'), r"no key 'cls/f1' in ssm\[iter=900\]"),
    ('0.9' + tag('nothing'), r"no key 'nothing' in \(the top level\) \(its keys: 'ssm',"),
    ('0.9' + tag('ssm[iter=400].cls/accuracy'), r'0 elements of ssm have \[iter=400\]'),
    ('0.9' + tag('groups[cls=CP].right'), r'2 elements of groups have \[cls=CP\]'),
    ('0.9' + tag('runs[1].f1'), r'no element \[1\] in runs \(a list of 1\)'),
    ('0.9' + tag('accuracy.x'), r'accuracy is a float, not an object'),
    ('0.9' + tag('missing'), r"docs/results/e.json missing is 'null', not a number"),
    ('0.9<!-- fig docs/results/none.json accuracy -->', r'no file docs/results/none.json'),
    ('0.9' + tag('ssm[iter=900'), r'unclosed \['),
    ('0.9<!-- fig docs/results/e.json -->', r'expected <!-- fig PATH KEY'),
    ('0.9<!-- fig docs/results/e.json accuracy', r'does not end on its line'),
    ('F1' + tag('accuracy'), r'no figure right before the comment'),
    ('H200' + tag('accuracy'), r'no figure right before the comment'),
    ('0.9<!-- fig docs/results/e.json a|b -->', r'would split a table cell'),
])
def test_a_broken_tag_names_page_line_and_what_is_wrong(root, text, message):
    (error,) = errors('\n' + text, root)
    assert error is not None and error.startswith('page.md:2: <!-- fig')
    assert re.search(message, error), error


def test_tags_in_code_are_text_not_tags():
    text = ('`0.5<!-- fig PATH KEY -->` and ``a ` 0.5<!-- fig PATH KEY -->``\n'
            '```\n0.5<!-- fig PATH KEY -->\n```\n'
            '~~~~\n```\n0.5<!-- fig PATH KEY -->\n~~~~\n'
            '0.5<!-- fig docs/results/e.json accuracy -->\n')
    (only,) = find_tags(text)
    assert only.line == 9


def test_parse_key_grammar():
    assert parse_key('a."b.c"[2][x="y z",n=3].d-e/f') == [
        ('key', 'a'), ('key', 'b.c'), ('index', 2), ('match', [('x', 'y z'), ('n', '3')]),
        ('key', 'd-e/f')]
    for bad in ('a..b', 'a.', '.a', 'a[]', 'a[=1]', 'a]b', 'a"b"'):
        with pytest.raises(ValueError):
            parse_key(bad)


# The tags each page had when they were written; a page may gain tags, not lose them.
TAG_FLOORS = {'README.md': 20, 'docs/real_data.md': 100, 'docs/benchmarks.md': 175,
              'docs/models.md': 50, 'docs/phantom_results.md': 55}


def test_the_documentation_agrees_with_its_evidence():
    pages = [osp.join(REPO_ROOT, 'README.md')] + sorted(
        glob.glob(osp.join(REPO_ROOT, 'docs', '**', '*.md'), recursive=True))
    found, failures = {}, []
    for page in pages:
        tags, errs = check_markdown(page, REPO_ROOT)
        found[osp.relpath(page, REPO_ROOT)] = len(tags)
        failures += errs
    assert not failures, '\n'.join(failures)
    short = {p: (found.get(p, 0), n) for p, n in TAG_FLOORS.items() if found.get(p, 0) < n}
    assert not short, f'pages with fewer figure tags than before (found, expected): {short}'
