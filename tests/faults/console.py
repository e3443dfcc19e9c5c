"""What a user sees on the terminal after a failure: exactly one `streamgan ...` line."""


def our_lines(err: str) -> list[str]:
    """streamgan's own lines in a captured stderr (pytest's capture also shows framework logs)."""
    return [line for line in err.splitlines() if line.startswith("streamgan ")]


def one_line(capsys, *fragments) -> str:
    """The single streamgan line of the captured stderr, with no traceback; it must hold every
    fragment."""
    err = capsys.readouterr().err
    ours = our_lines(err)
    assert len(ours) == 1 and "Traceback" not in err, err[-3000:]
    for fragment in fragments:
        assert fragment in ours[0], ours[0]
    return ours[0]
