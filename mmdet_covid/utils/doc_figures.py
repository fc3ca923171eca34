"""Figures in the documentation, checked against the committed JSON they come from.

A figure in README.md or docs/*.md is followed immediately by an HTML comment that names
its evidence (GitHub's renderer does not show comments); docs/results/README.md shows the
convention to writers::

    F1 0.9498<!-- fig docs/results/phantom_curve.json ssm[iter=900].cls/f1_weighted -->
    accuracy 95.7%<!-- fig docs/results/phantom_errors_resnet18_512.json accuracy x100 -->

``<!-- fig PATH KEY [SCALE] -->``: PATH is relative to the repository root; KEY is a path
into the JSON, parts separated by ``.``. A part is a bare name (any characters but
``. [ ] "`` and white space, so ``cls/f1_weighted`` and ``ssm-bf16`` are bare) or a name in
double quotes (``"RPN: head + proposals (rpn_head.predict)"``), followed by any number of
selectors: ``[3]`` indexes a list; ``[field=value]`` picks the only element of a list of
dicts whose ``field`` equals ``value`` (as numbers when both read as numbers; ``true``,
``false``, ``null`` for those JSON values; a value may be quoted), and
``[field=value,field2=value2]`` requires all. SCALE is ``xN`` (multiply, e.g. ``x100`` for a
percentage written from a fraction) or ``/N`` (divide, e.g. ``/1000000`` for millions).

The figure is the last number before the comment on the same line: an optional sign (only
after white space or an opening bracket: ``0.71-0.75`` is a range), digits with optional
thousands commas and decimals, then at most a unit (``%``, ``x``, ``M``, `` s``, `` GB``: up
to 4 letters, one space before them allowed) and closing ``**``, ``_`` or backticks. It
agrees when it is the JSON value times SCALE rounded to the written number of decimals:
``|written - value * scale| <= 0.5 * 10**-decimals`` (+1e-9). A comment inside a code span
or a fenced code block is text, not a tag, and is ignored; a comment with a ``|`` is an
error (it would split a table cell).
"""
import json
import math
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple, Union

# ``<!-- fig`` up to the end of the comment on the same line.
_TAG_START = re.compile(r'<!--\s*fig\s')
_TAG_BODY = re.compile(r'\s*(?P<path>\S+)\s+(?P<key>(?:"[^"]*"|[^\s"])+)'
                       r'(?:\s+(?P<scale>[x/](?:\d+(?:\.\d*)?|\.\d+)))?\s*$')
# The figure at the end of the text before a tag (see the module docstring).
# A sign belongs to the figure only after white space, the line start or an opening
# ( [ | * _, so that in ``0.71-0.75`` (a range) the figure is 0.75.
_FIGURE = re.compile(r'(?P<num>(?:(?<![^\s(\[|*_])[-+])?(?<![\w.,])'
                     r'(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)'
                     r'(?:\s?(?:%|[A-Za-z\u00b5]{1,4}))?[*_`]*$')
# One part of a KEY: a bare or quoted name, then its selectors.
_NAME = re.compile(r'"(?P<quoted>[^"]*)"|(?P<bare>[^.\[\]"\s]+)')
_SELECTOR = re.compile(r'\[(?P<body>(?:"[^"]*"|[^\]"])*)\]')
_CONDITION = re.compile(r'\s*(?P<field>[^=,"\s][^=,"]*?)\s*=\s*'
                        r'(?:"(?P<quoted>[^"]*)"|(?P<bare>[^,"]*?))\s*(?:,|$)')
_FENCE = re.compile(r'^ {0,3}(?P<fence>`{3,}|~{3,})')

# A step into the JSON: ('key', name), ('index', n) or ('match', [(field, value), ...]).
Step = Tuple[str, Union[str, int, List[Tuple[str, str]]]]


@dataclass
class FigureTag:
    """One ``<!-- fig ... -->`` comment of a document and the figure written before it.

    Attributes:
        source: the document, as messages name it (e.g. ``docs/benchmarks.md``).
        line: its line, from 1.
        raw: the comment as written.
        path: the evidence file, relative to the repository root.
        key: the KEY as written.
        steps: the KEY parsed into steps (empty when ``error`` is set).
        scale: the factor the JSON value is multiplied by (``/N`` gives ``1 / N``).
        written: the figure as written (``'1,800'``, ``'95.7'``), or None if none.
        error: why the comment could not be read, or None.
    """
    source: str
    line: int
    raw: str
    path: str = ''
    key: str = ''
    steps: List[Step] = field(default_factory=list)
    scale: float = 1.0
    written: Optional[str] = None
    error: Optional[str] = None

    @property
    def where(self) -> str:
        return f'{self.source}:{self.line}'


def parse_key(key: str) -> List[Step]:
    """Parse a KEY (see the module docstring) into steps.

    Args:
        key: e.g. ``'make_demo[iter=800].cls/f1_weighted'``.

    Returns:
        The steps, e.g. ``[('key', 'make_demo'), ('match', [('iter', '800')]),
        ('key', 'cls/f1_weighted')]``.

    Raises:
        ValueError: the KEY does not follow the grammar; the message says where.
    """
    steps: List[Step] = []
    pos = 0
    while True:
        m = _NAME.match(key, pos)
        if m is None:
            raise ValueError(f'expected a name at character {pos + 1} of the key {key!r}')
        steps.append(('key', m.group('bare') if m.group('bare') is not None
                      else m.group('quoted')))
        pos = m.end()
        while pos < len(key) and key[pos] == '[':
            s = _SELECTOR.match(key, pos)
            if s is None:
                raise ValueError(f'unclosed [ at character {pos + 1} of the key {key!r}')
            body = s.group('body').strip()
            if re.fullmatch(r'\d+', body):
                steps.append(('index', int(body)))
            else:
                conditions = []
                cpos = 0
                while cpos < len(body):
                    c = _CONDITION.match(body, cpos)
                    if c is None or c.end() == cpos:
                        raise ValueError(f'expected [N] or [field=value,...], got [{body}] '
                                         f'in the key {key!r}')
                    value = c.group('quoted') if c.group('quoted') is not None \
                        else c.group('bare')
                    conditions.append((c.group('field'), value))
                    cpos = c.end()
                if not conditions:
                    raise ValueError(f'empty selector [] in the key {key!r}')
                steps.append(('match', conditions))
            pos = s.end()
        if pos == len(key):
            return steps
        if key[pos] != '.':
            raise ValueError(f'expected "." or "[" at character {pos + 1} of the key {key!r}')
        pos += 1


def _code_spans(line: str) -> List[Tuple[int, int]]:
    """[start, end) of the inline code spans of one line (CommonMark: a run of N
    backticks opens a span that the next run of exactly N backticks closes)."""
    spans = []
    runs = [(m.start(), m.end()) for m in re.finditer(r'`+', line)]
    i = 0
    while i < len(runs):
        start, end = runs[i]
        width = end - start
        for j in range(i + 1, len(runs)):
            if runs[j][1] - runs[j][0] == width:
                spans.append((start, runs[j][1]))
                i = j
                break
        i += 1
    return spans


def find_tags(markdown_text: str, source: str = '<text>') -> List[FigureTag]:
    """Find the figure tags of a Markdown document.

    Args:
        markdown_text: the document.
        source: its name in messages.

    Returns:
        One FigureTag per ``<!-- fig ... -->`` outside code, in document order. A comment
        that does not follow the grammar, or that has no figure before it, is returned
        with ``error`` set (and ``check`` reports it), never dropped.
    """
    tags = []
    fence = None
    for lineno, line in enumerate(markdown_text.splitlines(), 1):
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group('fence')
            continue
        if fence is not None:
            if m and m.group('fence')[0] == fence[0] and len(m.group('fence')) >= len(fence) \
                    and not line[m.end():].strip():
                fence = None
            continue
        spans = _code_spans(line)
        for start in _TAG_START.finditer(line):
            if any(a <= start.start() < b for a, b in spans):
                continue
            end = line.find('-->', start.end())
            raw = line[start.start():] if end < 0 else line[start.start():end + 3]
            tag = FigureTag(source=source, line=lineno, raw=raw)
            tags.append(tag)
            if end < 0:
                tag.error = 'the comment does not end on its line (expected "-->")'
                continue
            if '|' in raw:
                tag.error = 'a "|" in the comment would split a table cell'
                continue
            body = _TAG_BODY.match(line, start.end(), end)
            if body is None:
                tag.error = 'expected <!-- fig PATH KEY [xN or /N] -->'
                continue
            tag.path, tag.key = body.group('path'), body.group('key')
            scale = body.group('scale')
            if scale:
                factor = float(scale[1:])
                if factor == 0:
                    tag.error = f'scale {scale} is zero'
                    continue
                tag.scale = factor if scale[0] == 'x' else 1.0 / factor
            try:
                tag.steps = parse_key(tag.key)
            except ValueError as exc:
                tag.error = str(exc)
                continue
            figure = _FIGURE.search(line, 0, start.start())
            if figure is None:
                tag.error = 'no figure right before the comment'
                continue
            tag.written = figure.group('num')
    return tags


def _json_text(value: Any) -> str:
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


def _equals(value: Any, text: str) -> bool:
    """Whether a JSON value equals a selector's value (as numbers where both are)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(text) == value
        except ValueError:
            return False
    return _json_text(value) == text


def _describe(steps: List[Step], upto: int) -> str:
    out = ''
    for kind, arg in steps[:upto]:
        if kind == 'key':
            name = arg if re.fullmatch(r'[^.\[\]"\s]+', arg) else f'"{arg}"'
            out += ('.' if out else '') + name
        elif kind == 'index':
            out += f'[{arg}]'
        else:
            out += '[' + ','.join(f'{f}={v}' for f, v in arg) + ']'
    return out or '(the top level)'


def lookup(data: Any, steps: List[Step]) -> Any:
    """Follow parsed KEY steps into loaded JSON.

    Args:
        data: the loaded JSON.
        steps: from ``parse_key``.

    Returns:
        The value the steps lead to.

    Raises:
        KeyError: a step does not apply; the message names the step, what it met and
            what was there.
    """
    for i, (kind, arg) in enumerate(steps):
        here = _describe(steps, i)
        if kind == 'key':
            if not isinstance(data, dict):
                raise KeyError(f'{here} is a {type(data).__name__}, not an object: no key '
                               f'{arg!r}')
            if arg not in data:
                keys = ', '.join(repr(k) for k in list(data)[:12])
                raise KeyError(f'no key {arg!r} in {here} (its keys: {keys})')
            data = data[arg]
        elif kind == 'index':
            if not isinstance(data, list) or not arg < len(data):
                size = f'a list of {len(data)}' if isinstance(data, list) \
                    else f'a {type(data).__name__}'
                raise KeyError(f'no element [{arg}] in {here} ({size})')
            data = data[arg]
        else:
            if not isinstance(data, list):
                raise KeyError(f'{here} is a {type(data).__name__}, not a list to select '
                               f'from')
            found = [e for e in data if isinstance(e, dict)
                     and all(f in e and _equals(e[f], v) for f, v in arg)]
            if len(found) != 1:
                cond = ','.join(f'{f}={v}' for f, v in arg)
                raise KeyError(f'{len(found)} elements of {here} have [{cond}], expected one')
            data = found[0]
    return data


def check(tag: FigureTag, repo_root: str) -> Optional[str]:
    """Check one tag against its evidence.

    Args:
        tag: from ``find_tags``.
        repo_root: the directory PATH is relative to.

    Returns:
        None when the written figure agrees with the JSON value; otherwise a message that
        names the document and line, the tag, and what is wrong (an unreadable tag, a
        missing file or key, a value that is not a number, or the written figure against
        the JSON value).
    """
    prefix = f'{tag.where}: {tag.raw}'
    if tag.error:
        return f'{prefix}: {tag.error}'
    file = osp.join(repo_root, tag.path)
    if not osp.isfile(file):
        return f'{prefix}: no file {tag.path} (PATH is relative to the repository root)'
    try:
        with open(file, encoding='utf-8') as f:
            data = json.load(f)
    except ValueError as exc:
        return f'{prefix}: {tag.path} is not JSON ({exc})'
    try:
        value = lookup(data, tag.steps)
    except KeyError as exc:
        return f'{prefix}: in {tag.path}, {exc.args[0]}'
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        return f'{prefix}: {tag.path} {tag.key} is {_json_text(value)!r}, not a number'
    written = float(tag.written.replace(',', ''))
    decimals = len(tag.written.partition('.')[2])
    expected = value * tag.scale
    if abs(written - expected) <= 0.5 * 10**-decimals + 1e-9:
        return None
    scaled = '' if tag.scale == 1 else f' (x {tag.scale:g} = {expected!r})'
    return (f'{prefix}: the document says {tag.written}, {tag.path} {tag.key} is '
            f'{value!r}{scaled}, which is {expected:,.{decimals}f} at {decimals} decimals')


def check_markdown(path: str, repo_root: str) -> Tuple[List[FigureTag], List[str]]:
    """Find and check every figure tag of one Markdown file.

    Args:
        path: the document.
        repo_root: the repository root; the document is named relative to it.

    Returns:
        ``(tags, errors)``: the tags found and the message of each that fails.
    """
    with open(path, encoding='utf-8') as f:
        text = f.read()
    tags = find_tags(text, osp.relpath(path, repo_root))
    errors = [e for e in (check(t, repo_root) for t in tags) if e is not None]
    return tags, errors
