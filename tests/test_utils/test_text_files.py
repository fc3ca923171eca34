"""read_text_lines: numbered UTF-8 lines; a BOM or a non-UTF-8 byte names file and line."""
import pytest

from mmdet_covid.utils import TextFileError, read_text_lines


def test_lines_are_numbered_as_an_editor_shows_them(tmp_path):
    path = tmp_path / 'split.txt'
    path.write_bytes('a b\r\n\nCOVID-19 \u00e9t\u00e9\nlast'.encode('utf-8'))
    assert read_text_lines(str(path)) == [(1, 'a b'), (2, ''), (3, 'COVID-19 \u00e9t\u00e9'),
                                          (4, 'last')]
    path.write_bytes(b'')
    assert read_text_lines(str(path)) == []


@pytest.mark.parametrize('data, message', [
    (b'\xef\xbb\xbfa\n', r'split.txt:1: .*UTF-8 byte-order mark'),
    (b'\xfe\xff\x00a', r'split.txt:1: .*UTF-16 byte-order mark'),
    (b'a\nb\n\x80c\n', r'split.txt:3: byte 0x80 at offset 4 is not UTF-8'),
])
def test_bom_and_non_utf8_bytes_are_errors(tmp_path, data, message):
    path = tmp_path / 'split.txt'
    path.write_bytes(data)
    with pytest.raises(TextFileError, match=message):
        read_text_lines(str(path))
