"""``faasq deploy``: turn stack functions into faas-cli's deploy requests and send them."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from faasq.client import Gateway
from faasq.context import Console, Context, add_gateway_options
from faasq.errors import GatewayError
from faasq.stack import Resources, StackFunction
from provider.types import DeleteFunctionRequest, FunctionDeployment, FunctionResources, wire

__all__ = ["build_deployment", "deploy_functions", "register"]

_DEPLOYED = (200, 201, 202)


def build_deployment(function: StackFunction, namespace: str | None = None) -> FunctionDeployment:
    """The body faas-cli sends for a stack function; the stack's namespace wins over ``namespace``."""
    return FunctionDeployment(
        service=function.name,
        image=function.image,
        namespace=function.namespace or namespace or None,
        env_process=function.fprocess,
        env_vars=dict(function.environment),
        constraints=list(function.constraints),
        secrets=list(function.secrets),
        # faas-cli always sends labels and annotations, empty maps included.
        labels=dict(function.labels),
        annotations=dict(function.annotations),
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


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``deploy`` to the command line."""
    parser = commands.add_parser("deploy", help="deploy the functions of a stack file")
    parser.add_argument("-f", "--yaml", default="stack.yml", help="the stack file (default: stack.yml)")
    add_gateway_options(parser, stack_file=False)
    parser.add_argument("--filter", help="deploy only functions whose name matches this wildcard")
    parser.add_argument("--replace", action="store_true", help="remove each function before deploying it")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, ctx: Context) -> int:
    stack = ctx.stack(Path(args.yaml))
    deployments = [build_deployment(function, args.namespace) for function in stack.select(args.filter)]
    with ctx.gateway(args, stack) as gateway:
        failed = deploy_functions(gateway, deployments, ctx.console, replace=args.replace)
    if failed:
        ctx.console.err(f"Failed to deploy: {', '.join(failed)}")
    return 1 if failed else 0
