"""stack.yml is read as faas-cli reads it, and a bad file gets one clear line."""

from pathlib import Path

import pytest

from faasq.errors import StackError
from faasq.stack import STACK_DIR_VARIABLE, load_stack, substitute


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${NAME}", "world"),
        ("a-${NAME}-b", "a-world-b"),
        ("${MISSING}", ""),
        ("${MISSING:-dflt}", "dflt"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${EMPTY-dflt}", ""),
        ("${MISSING-dflt}", "dflt"),
        ("${NAME:-dflt}", "world"),
        ("${MISSING:-}", ""),
        ("$NAME and $ alone", "$NAME and $ alone"),
        ("${NAME}${NAME}", "worldworld"),
    ],
)
def test_substitute(text: str, expected: str) -> None:
    assert substitute(text, {"NAME": "world", "EMPTY": ""}) == expected


def test_load_full_function(tmp_path: Path) -> None:
    stack_file = write(
        tmp_path / "stack.yml",
        """
version: 1.0
provider:
  name: openfaas
  gateway: http://gw:${GW_PORT:-8080}
configuration:
  templates: [{name: python3}]
functions:
  fn1:
    lang: python3
    handler: ./fn1
    image: example/fn1:${TAG}
    fprocess: python3 index.py
    skip_build: true
    build_args: {A: b}
    environment: {write_debug: true, retries: 3, name: x}
    secrets: [api-key]
    labels: {com.openfaas.scale.min: 2}
    annotations: {topic: cron-function, schedule: "*/5 * * * *"}
    constraints: ["node.platform.os == linux"]
    namespace: staging
    limits: {memory: 128Mi, cpu: 100m}
    requests: {memory: 64Mi}
    readonly_root_filesystem: true
""",
    )
    stack = load_stack(stack_file, {"TAG": "1.2"})
    assert stack.provider.gateway == "http://gw:8080"
    assert stack.version == "1.0"
    fn = stack.functions["fn1"]
    assert fn.name == "fn1"
    assert fn.image == "example/fn1:1.2"
    assert fn.environment == {"write_debug": "true", "retries": "3", "name": "x"}
    assert fn.labels == {"com.openfaas.scale.min": "2"}
    assert fn.annotations["schedule"] == "*/5 * * * *"
    assert fn.limits is not None
    assert (fn.limits.memory, fn.limits.cpu) == ("128Mi", "100m")
    assert fn.requests is not None
    assert (fn.requests.memory, fn.requests.cpu) == ("64Mi", None)
    assert fn.readonly_root_filesystem is True
    assert fn.skip_build is True
    assert fn.namespace == "staging"


def test_environment_files_are_relative_to_the_stack_and_overridden_inline(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf" / "a.yml", "environment:\n  A: from-a\n  B: from-a\n  C: 1\n")
    write(tmp_path / "conf" / "b.yml", "environment:\n  B: from-b\n")
    stack_file = write(
        tmp_path / "stack.yml",
        "functions:\n  f:\n    environment_file: [conf/a.yml, conf/b.yml]\n    environment: {C: inline}\n",
    )
    stack = load_stack(stack_file, {})
    assert stack.functions["f"].environment == {"A": "from-a", "B": "from-b", "C": "inline"}


def test_stack_dir_variable_names_the_stack_directory(tmp_path: Path) -> None:
    stack_file = write(
        tmp_path / "stack.yml", f"functions:\n  f:\n    fprocess: python3 ${{{STACK_DIR_VARIABLE}}}/f.py\n"
    )
    assert load_stack(stack_file, {}).functions["f"].fprocess == f"python3 {tmp_path.resolve()}/f.py"
    assert load_stack(stack_file, {STACK_DIR_VARIABLE: "/x"}).functions["f"].fprocess == "python3 /x/f.py"


def test_empty_values_are_empty_strings_and_empty_functions_have_defaults(tmp_path: Path) -> None:
    write(tmp_path / "env.yml", "environment:\n  FROM_FILE:\n")
    stack_file = write(
        tmp_path / "stack.yml", "functions:\n  a:\n    environment: {EMPTY: }\n    environment_file: [env.yml]\n  b:\n"
    )
    functions = load_stack(stack_file, {}).functions
    assert functions["a"].environment == {"FROM_FILE": "", "EMPTY": ""}
    assert (functions["b"].name, functions["b"].fprocess, functions["b"].environment) == ("b", None, {})


def test_provider_defaults_when_absent(tmp_path: Path) -> None:
    stack = load_stack(write(tmp_path / "stack.yml", "functions: {}\n"), {})
    assert (stack.provider.name, stack.provider.gateway, stack.functions) == ("openfaas", None, {})


def test_select_filters_by_wildcard_sorted(tmp_path: Path) -> None:
    stack = load_stack(write(tmp_path / "s.yml", "functions: {b-gif: {}, a-gif: {}, png: {}}\n"), {})
    assert [fn.name for fn in stack.select(None)] == ["a-gif", "b-gif", "png"]
    assert [fn.name for fn in stack.select("*gif")] == ["a-gif", "b-gif"]
    assert [fn.name for fn in stack.select("png")] == ["png"]
    with pytest.raises(StackError, match=r"no function in .* matches the filter 'jpg'"):
        stack.select("jpg")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("functions: [\n", r"s\.yml: invalid YAML \(line 2\)"),
        ("- a\n- b\n", "a stack file is a YAML mapping with a 'functions' key"),
        ("", "a stack file is a YAML mapping"),
        ("version: 1.0\n", "functions: Field required"),
        (
            "provider: {name: faas}\nfunctions: {}\n",
            "provider.name: 'openfaas' is the only valid provider",
        ),
        ("functions:\n  My_Fn: {}\n", "functions.My_Fn.name: a function name must be a DNS label"),
        ("functions:\n  f: {environment: [a, b]}\n", "functions.f.environment: Input should be a valid dictionary"),
        ("functions:\n  f: {secrets: a, labels: 3}\n", r"functions\.f\.secrets: [^;]+; functions\.f\.labels: "),
        ("functions:\n  f: {environment_file: [missing.yml]}\n", r"missing\.yml: no such file"),
    ],
)
def test_bad_files_give_one_clear_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(StackError, match=message) as raised:
        load_stack(write(tmp_path / "s.yml", text), {})
    assert "\n" not in str(raised.value)


def test_missing_stack_file(tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"nope\.yml: no such file"):
        load_stack(tmp_path / "nope.yml", {})


def test_bad_environment_file(tmp_path: Path) -> None:
    write(tmp_path / "env.yml", "A: b\n")
    stack_file = write(tmp_path / "s.yml", "functions:\n  f: {environment_file: [env.yml]}\n")
    with pytest.raises(StackError, match=r"env\.yml: an environment file is a YAML mapping with an 'environment'"):
        load_stack(stack_file, {})
