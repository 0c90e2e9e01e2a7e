"""faas-cli's ``stack.yml``: read, substitute ``${VAR}``, validate, and resolve files relative to it.

Only what deploying needs is modelled; the build-time keys faas-cli also accepts
(``build_options``, ``build_args``, ``platforms``, ``configuration``, ...) are read and ignored,
so a stack file written for faas-cli works unchanged.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from faasq.errors import StackError
from plumbing.settings import describe_validation_error
from provider.types import DNS_LABEL

__all__ = ["STACK_DIR_VARIABLE", "Resources", "Stack", "StackFunction", "StackProvider", "load_stack", "substitute"]

STACK_DIR_VARIABLE = "FAASQ_STACK_DIR"
"""Substituted with the stack file's directory unless the environment sets it, so ``fprocess`` can name scripts."""

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


def substitute(text: str, environ: Mapping[str, str]) -> str:
    """Replace ``${VAR}``, ``${VAR:-default}`` (unset or empty) and ``${VAR-default}`` (unset) as envsubst does.

    An unset variable without a default becomes the empty string, as in faas-cli.
    """

    def replace(match: re.Match[str]) -> str:
        name, operator, default = match.groups()
        value = environ.get(name)
        if operator == ":-" and not value:
            return str(default)
        if operator == "-" and value is None:
            return str(default)
        return value or ""

    return _VARIABLE.sub(replace, text)


def _scalar(value: object) -> object:
    # Go's YAML decoder turns `FOO: true`, `FOO: 1` and `FOO:` into "true", "1" and "" for a map[string]string.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


Scalar = Annotated[str, BeforeValidator(_scalar)]


class _StackModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Resources(_StackModel):
    """``limits`` or ``requests`` of a function, in Kubernetes quantities."""

    memory: Scalar | None = None
    cpu: Scalar | None = None


class StackFunction(_StackModel):
    """One entry of ``functions:``; ``environment`` already includes the ``environment_file`` files."""

    name: str
    lang: str | None = None
    handler: str | None = None
    image: str = ""
    fprocess: str | None = None
    skip_build: bool = False
    environment: dict[str, Scalar] = Field(default_factory=dict)
    environment_file: list[str] = Field(default_factory=list)
    secrets: list[str] = Field(default_factory=list)
    labels: dict[str, Scalar] = Field(default_factory=dict)
    annotations: dict[str, Scalar] = Field(default_factory=dict)
    constraints: list[str] = Field(default_factory=list)
    namespace: str | None = None
    limits: Resources | None = None
    requests: Resources | None = None
    readonly_root_filesystem: bool = False
    folder: Path | None = Field(None, description="The stack file's folder (set when the file is read).")

    @field_validator("name")
    @classmethod
    def _dns_label(cls, name: str) -> str:
        if not DNS_LABEL.fullmatch(name):
            raise ValueError("a function name must be a DNS label: lowercase letters, digits and '-'")
        return name


class StackProvider(_StackModel):
    """``provider:``; faas-cli accepts only the name ``openfaas``."""

    name: str = "openfaas"
    gateway: str | None = None

    @field_validator("name")
    @classmethod
    def _openfaas(cls, name: str) -> str:
        if name != "openfaas":
            raise ValueError(f"'openfaas' is the only valid provider name, got {name!r}")
        return name


class Stack(_StackModel):
    """A parsed stack file."""

    version: Scalar | None = None
    provider: StackProvider = Field(default_factory=StackProvider)
    functions: dict[str, StackFunction]
    path: Path = Field(description="The stack file; relative paths in it are relative to its directory.")

    def select(self, pattern: str | None) -> list[StackFunction]:
        """The functions whose name matches a faas-cli ``--filter`` wildcard (all if None), sorted by name.

        Raises:
            StackError: nothing matches the pattern.
        """
        chosen = [
            fn for name, fn in sorted(self.functions.items()) if pattern is None or fnmatch.fnmatch(name, pattern)
        ]
        if pattern is not None and not chosen:
            raise StackError(f"no function in {self.path} matches the filter {pattern!r}")
        return chosen


def load_stack(path: Path, environ: Mapping[str, str]) -> Stack:
    """Read and validate a stack file, substituting variables and merging ``environment_file`` files.

    Raises:
        StackError: the file is missing, is not valid YAML, or does not describe a stack.
    """
    directory = path.resolve().parent
    variables = {STACK_DIR_VARIABLE: str(directory), **environ}
    document = _read_yaml(path, lambda text: substitute(text, variables))
    if not isinstance(document, dict):
        raise StackError(f"{path}: a stack file is a YAML mapping with a 'functions' key")
    functions = document.get("functions")
    if isinstance(functions, dict):
        document = {**document, "functions": {name: _named(name, spec) for name, spec in functions.items()}}
    try:
        stack = Stack.model_validate({**document, "path": path})
    except ValidationError as exc:
        raise StackError(f"{path}: {describe_validation_error(exc)}") from None
    merged = {name: _with_environment_files(fn, directory) for name, fn in stack.functions.items()}
    return stack.model_copy(update={"functions": merged})


def _named(name: object, spec: object) -> object:
    if spec is None:  # `echo:` with nothing under it: a function with every default
        spec = {}
    return {**spec, "name": str(name)} if isinstance(spec, dict) else spec


def _with_environment_files(function: StackFunction, directory: Path) -> StackFunction:
    # faas-cli: the files come first and the function's own `environment` overrides them.
    environment: dict[str, str] = {}
    for name in function.environment_file:
        environment.update(_environment_file(directory / name))
    environment.update(function.environment)
    return function.model_copy(update={"environment": environment, "folder": directory})


def _environment_file(path: Path) -> dict[str, str]:
    document = _read_yaml(path, lambda text: text)
    values = document.get("environment") if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise StackError(f"{path}: an environment file is a YAML mapping with an 'environment' mapping")
    return {str(key): str(_scalar(value)) for key, value in values.items()}


def _read_yaml(path: Path, transform: Callable[[str], str]) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StackError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StackError(f"{path}: cannot read: {exc}") from None
    try:
        return yaml.safe_load(transform(text))
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise StackError(f"{path}: invalid YAML{line}: {problem}") from None
