"""Text from the input written into CSV files that spreadsheets open."""

# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
FORMULA_START = ('=', '+', '-', '@', '\t', '\r')


def spreadsheet_safe(value):
    """``value`` for a CSV cell: a text that a spreadsheet would run as a formula gets a
    leading apostrophe (OWASP's advice against CSV injection); numbers and other values
    stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
