"""Reading the text files users hand to the data tools (split and label files).

They are read strictly: UTF-8 without a byte-order mark, every line numbered, so that
an error can name the file and the line. A file saved by an editor in another encoding
(UTF-16, Latin-1) or with a BOM would otherwise turn its first file name, or a name with
an accented letter, into one that matches nothing, far from the cause.
"""
import codecs
from typing import List, Tuple


class TextFileError(ValueError):
    """A text file that is not plain UTF-8 (the message names the file and line)."""


def read_text_lines(path: str) -> List[Tuple[int, str]]:
    """Read a UTF-8 text file as numbered lines.

    Args:
        path: the file.

    Returns:
        ``[(line number, text), ...]`` from line 1, without the line ends (``\\n`` or
        ``\\r\\n``); blank lines are kept so that the numbers match an editor's.

    Raises:
        FileNotFoundError: the file does not exist.
        TextFileError: a byte-order mark, or bytes that are not UTF-8; the message
            names ``path:line`` and the offending byte.
    """
    with open(path, 'rb') as f:
        data = f.read()
    for bom, name in ((codecs.BOM_UTF8, 'UTF-8'), (codecs.BOM_UTF16_LE, 'UTF-16'),
                      (codecs.BOM_UTF16_BE, 'UTF-16')):
        if data.startswith(bom):
            raise TextFileError(f'{path}:1: the file starts with a {name} byte-order mark; '
                                'expected plain UTF-8 text without a BOM (save it again '
                                'as "UTF-8", not "UTF-8 with BOM" or "Unicode")')
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        lineno = data.count(b'\n', 0, exc.start) + 1
        raise TextFileError(f'{path}:{lineno}: byte 0x{data[exc.start]:02x} at offset '
                            f'{exc.start} is not UTF-8 ({exc.reason}); expected UTF-8 '
                            'text') from None
    lines = text.split('\n')
    if lines and lines[-1] == '':
        lines.pop()  # the newline that ends the last line
    return [(n, line[:-1] if line.endswith('\r') else line) for n, line in enumerate(lines, 1)]
