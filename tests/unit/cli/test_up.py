"""What faasq up prints once the stack is ready."""

from faasq.up import banner


def test_banner_on_the_default_port() -> None:
    assert banner("http://127.0.0.1:8080", ["echo", "wc"]) == [
        "faasq is up: http://127.0.0.1:8080",
        "Functions: echo, wc",
        "Try:",
        "  echo hi | faasq invoke echo",
        "  faasq list",
        "  faasq describe echo",
        "  faasq logs echo",
        "Press Ctrl+C to stop.",
    ]


def test_banner_elsewhere_says_how_to_point_the_cli_at_it() -> None:
    lines = banner("http://127.0.0.1:9999", ["hello"])
    assert lines[3:5] == ["  export OPENFAAS_URL=http://127.0.0.1:9999", "  echo hi | faasq invoke hello"]
    assert banner("http://127.0.0.1:8080", [])[1] == "Functions: (none)"
