"""``faasq deploy``: turn stack functions into faas-cli's deploy requests and send them."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from faasq.builds import DEFAULT_STATE_DIR, build_all
from faasq.client import Gateway
from faasq.context import Console, Context, add_gateway_options, parse_pairs
from faasq.errors import CliError, GatewayError
from faasq.stack import Resources, Stack, StackFunction
from plumbing.settings import describe_validation_error
from provider.types import (
    WORKDIR_ANNOTATION,
    DeleteFunctionRequest,
    FunctionDeployment,
    FunctionResources,
    LocalBuild,
    wire,
)

__all__ = ["build_deployment", "deploy_functions", "register", "with_flags"]

_DEPLOYED = (200, 201, 202)


def build_deployment(
    function: StackFunction, namespace: str | None = None, build: LocalBuild | None = None
) -> FunctionDeployment:
    """The body faas-cli sends for a stack function; the stack's namespace wins over ``namespace``.

    A ``lang:`` function sends its template's ``fprocess`` (from ``build``), as faas-cli does; the
    local provider runs it from the image's build. Another function read from a stack file
    names the file's folder (``com.faasq.workdir``): the local provider runs its replicas
    there, so relative paths in ``fprocess`` work.

    Raises:
        CliError: the function does not make a valid deployment (a bad flow-control annotation).
    """
    here = function.folder is not None and function.lang is None
    annotations = {WORKDIR_ANNOTATION: str(function.folder)} if here else {}
    try:
        return _deployment(function, namespace, build, annotations)
    except ValidationError as exc:
        raise CliError(f"function {function.name!r}: {describe_validation_error(exc)}") from None


def _deployment(
    function: StackFunction, namespace: str | None, build: LocalBuild | None, annotations: dict[str, str]
) -> FunctionDeployment:
    return FunctionDeployment(
        service=function.name,
        image=function.image or (build.image if build else ""),
        namespace=function.namespace or namespace or None,
        env_process=function.fprocess or (build.fprocess if build else None),
        env_vars=dict(function.environment),
        constraints=list(function.constraints),
        secrets=list(function.secrets),
        # faas-cli always sends labels and annotations, empty maps included.
        labels=dict(function.labels),
        annotations=annotations | dict(function.annotations),
        limits=_resources(function.limits),
        requests=_resources(function.requests),
        read_only_root_filesystem=function.readonly_root_filesystem,
    )


def _resources(resources: Resources | None) -> FunctionResources | None:
    if resources is None or not (resources.memory or resources.cpu):
        return None
    return FunctionResources(memory=resources.memory or None, cpu=resources.cpu or None)


def deploy_functions(
    gateway: Gateway,
    deployments: Iterable[FunctionDeployment],
    console: Console,
    *,
    replace: bool = False,
    verbose: bool = True,
) -> list[str]:
    """Deploy each function as faas-cli does: ``PUT``, then ``POST`` on 404; ``replace`` deletes first.

    Progress goes to stdout unless ``verbose`` is off; failures always go to stderr.

    Returns:
        The names of the functions that failed (each reported on stderr); empty when all deployed.
    """
    failed = []
    for deployment in deployments:
        if verbose:
            console.out(f"Deploying: {deployment.service}.")
        try:
            status = _deploy_one(gateway, deployment, replace=replace)
        except GatewayError as exc:
            console.err(f"Unexpected status deploying {deployment.service}: {exc}")
            failed.append(deployment.service)
            continue
        if verbose:
            console.out(f"Deployed. {status}.")
            console.out(f"URL: {gateway.url}/function/{deployment.service}")
    return failed


def _deploy_one(gateway: Gateway, deployment: FunctionDeployment, *, replace: bool) -> str:
    body = wire(deployment)
    if replace:
        delete = DeleteFunctionRequest(function_name=deployment.service, namespace=deployment.namespace)
        gateway.request("DELETE", "/system/functions", json=wire(delete), accept=(*_DEPLOYED, 404))
        response = gateway.request("POST", "/system/functions", json=body, accept=_DEPLOYED)
    else:
        response = gateway.request("PUT", "/system/functions", json=body, accept=(*_DEPLOYED, 404))
        if response.status_code == 404:
            response = gateway.request("POST", "/system/functions", json=body, accept=_DEPLOYED)
    return f"{response.status_code} {response.reason_phrase}"


def with_flags(function: StackFunction, args: argparse.Namespace) -> StackFunction:
    """A function with the command line's ``--env``, ``--label``, ... added; the command line wins, as in faas-cli.

    Raises:
        CliError: a ``KEY=VALUE`` option is malformed.
    """
    return function.model_copy(
        update={
            "environment": {**function.environment, **dict(parse_pairs(args.env, "--env"))},
            "labels": {**function.labels, **dict(parse_pairs(args.label, "--label"))},
            "annotations": {**function.annotations, **dict(parse_pairs(args.annotation, "--annotation"))},
            "secrets": [*function.secrets, *args.secret],
            "constraints": [*function.constraints, *args.constraint],
        }
    )


def _functions(args: argparse.Namespace, ctx: Context) -> tuple[Stack | None, list[StackFunction]]:
    if args.name is None:
        stack = ctx.stack(Path(args.yaml or "stack.yml"))
        return stack, stack.select(args.filter)
    if not args.fprocess:
        raise CliError("--name needs --fprocess: the command that runs the function")
    try:
        function = StackFunction(name=args.name, image=args.image or "", fprocess=args.fprocess)
    except ValidationError:
        raise CliError(f"invalid function name {args.name!r}: use lowercase letters, digits and '-'") from None
    return None, [function]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``deploy`` to the command line."""
    parser = commands.add_parser("deploy", help="deploy the functions of a stack file, or one from flags")
    parser.add_argument("-f", "--yaml", help="the stack file (default: stack.yml)")
    add_gateway_options(parser, stack_file=False)
    parser.add_argument("--filter", help="deploy only functions whose name matches this wildcard")
    parser.add_argument("--replace", action="store_true", help="remove each function before deploying it")
    parser.add_argument("--name", help="deploy one function from flags instead of a stack file")
    parser.add_argument("--fprocess", help="with --name: the command that runs the function")
    parser.add_argument("--image", help="with --name: the function's image")
    parser.add_argument("-e", "--env", action="append", default=[], metavar="KEY=VALUE", help="add an env var")
    parser.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE", help="add a label")
    parser.add_argument("--annotation", action="append", default=[], metavar="KEY=VALUE", help="add an annotation")
    parser.add_argument("--secret", action="append", default=[], metavar="NAME", help="give the function a secret")
    parser.add_argument("--constraint", action="append", default=[], metavar="EXPR", help="add a constraint")
    parser.add_argument(
        "--state-dir",
        default=str(DEFAULT_STATE_DIR),
        help="where lang: functions are built first, for the local provider of 'faasq up' (.faasq)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    stack, functions = _functions(args, ctx)
    built = build_all(functions, Path(args.state_dir), ctx.console)
    deployments = [
        build_deployment(with_flags(function, args), args.namespace, built.get(function.name)) for function in functions
    ]
    with ctx.gateway(args, stack) as gateway:
        failed = deploy_functions(gateway, deployments, ctx.console, replace=args.replace)
    if failed:
        ctx.console.err(f"Failed to deploy: {', '.join(failed)}")
    return 1 if failed else 0
