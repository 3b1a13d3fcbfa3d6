"""The Python half of scripts/deploy.sh, run with the SAM CLI's own interpreter
(.cache/venv-sam/bin/python), so it reads samconfig.toml, parameter overrides and the template
exactly as the installed sam does, and talks to AWS with the same boto3 and credentials.

  check-samconfig FILE   every [env.command.parameters] table names a sam command, every key is
                         one of that command's options and every value converts to the option's
                         type (sam itself ignores unknown keys without a word). No AWS access.
  stack-name             the stack `make deploy` acts on: $STACK, else samconfig.toml's stack_name
  preflight              before a build and before a deploy: $PARAMS parse and name parameters of
                         template.yaml; a region is set; the AWS credentials work; the stack is in
                         a state a deploy can start from. Prints where the deploy goes.
  retained               the retained table and bucket of the stack (they outlive `sam delete`)
  sizes DIR              each built function's bootstrap in DIR (.aws-sam/build) and its zip size
"""

import io
import os
import sys
import zipfile
from pathlib import Path

import click
import tomlkit

ROOT = Path(__file__).resolve().parent.parent
SAMCONFIG = ROOT / "samconfig.toml"
TEMPLATE = ROOT / "template.yaml"
CONFIG_ENV = "default"
DEFAULT_STACK = "chatkit"
# commands whose options `[env.global.parameters]` may hold (global keys reach every command
# that has the option)
GLOBAL_COMMANDS = ("build", "deploy", "delete", "validate", "logs", "sync", "list_stack_outputs")


def fail(message: str) -> None:
    print(f"deploy: {message}", file=sys.stderr)
    sys.exit(1)


# ---- samconfig.toml


def load_samconfig(path: Path = SAMCONFIG) -> dict:
    if not path.is_file():
        return {}
    return tomlkit.parse(path.read_text()).unwrap()


def config_value(key: str, command: str = "deploy") -> str:
    """A key of the default config env as sam resolves it: the command's table, then global."""
    config = load_samconfig().get(CONFIG_ENV, {})
    for table in (command, "global"):
        value = config.get(table, {}).get("parameters", {}).get(key)
        if value not in (None, ""):
            return str(value)
    return ""


def sam_commands():
    """sam's click command tree, loaded the way `sam` loads it (lazily, by module)."""
    from samcli.cli.main import cli

    return cli, click.Context(cli, obj=object())


def resolve_command(key: str, group, ctx):
    """samconfig names a command by its words joined with '_' (`list stack-outputs` is
    `list_stack_outputs`); finds that command in the tree, or None."""
    for name in group.list_commands(ctx):
        normal = name.replace("-", "_")
        if key == normal or key.startswith(normal + "_"):
            command = group.get_command(ctx, name)
            if command is None:
                continue
            if key == normal:
                return command, ctx
            if isinstance(command, click.Group):
                sub_ctx = click.Context(command, parent=ctx, obj=ctx.obj)
                found = resolve_command(key[len(normal) + 1 :], command, sub_ctx)
                if found:
                    return found
    return None


def check_value(param: click.Parameter, value, ctx) -> str:
    if param.multiple and not isinstance(value, list):
        value = [value]  # as sam does for options that may repeat
    try:
        param.type_cast_value(ctx, value)
    except (click.BadParameter, ValueError, TypeError) as error:
        return str(getattr(error, "message", error))
    return ""


def check_samconfig(path: Path) -> None:
    try:
        document = load_samconfig(path)
    except Exception as error:  # tomlkit's parse errors have no common base worth naming
        fail(f"{path}: not valid TOML: {error}")
    if not document:
        fail(f"{path}: not found or empty")
    cli, ctx = sam_commands()
    errors = []
    if str(document.get("version")) != "0.1":
        errors.append(f"version = {document.get('version')!r}: sam reads version 0.1")
    for env, commands in document.items():
        if env == "version":
            continue
        if not isinstance(commands, dict):
            errors.append(f"{env}: expected a table of commands")
            continue
        for command_key, sections in commands.items():
            where = f"[{env}.{command_key}]"
            if command_key == "global":
                targets = [resolve_command(name, cli, ctx) for name in GLOBAL_COMMANDS]
            else:
                targets = [resolve_command(command_key, cli, ctx)]
            targets = [target for target in targets if target]
            if not targets:
                errors.append(f"{where}: no sam command {command_key!r}")
                continue
            for section, table in sections.items():
                if section != "parameters":
                    errors.append(f"[{env}.{command_key}.{section}]: sam reads only .parameters tables")
                    continue
                for key, value in table.items():
                    matches = [
                        (command, param, command_ctx)
                        for command, command_ctx in targets
                        for param in command.params
                        if param.name == key
                    ]
                    if not matches:
                        scope = "any sam command" if command_key == "global" else "sam " + command_key.replace("_", " ")
                        errors.append(f"{where} {key}: not an option of {scope}")
                        continue
                    command, param, command_ctx = matches[0]
                    problem = check_value(param, value, click.Context(command, parent=command_ctx))
                    if problem:
                        errors.append(f"{where} {key} = {value!r}: {problem}")
    if errors:
        fail(f"{path}:\n  " + "\n  ".join(errors))
    print(f"{path.name}: every key is an option of the sam CLI, every value of its type")


# ---- parameters, AWS


def stack_name() -> str:
    return os.environ.get("STACK") or config_value("stack_name") or DEFAULT_STACK


def check_params() -> None:
    """$PARAMS as `sam deploy --parameter-overrides` parses it, keys checked against the template:
    a misspelt key fails here, not in CloudFormation after the build."""
    raw = os.environ.get("PARAMS", "").strip()
    if not raw:
        return
    from samcli.cli.types import CfnParameterOverridesType
    from samcli.yamlhelper import parse_yaml_file

    try:
        overrides = CfnParameterOverridesType().convert(raw, None, None)
    except click.BadParameter as error:
        fail(f'PARAMS="{raw}": {error.message}')
    known = parse_yaml_file(str(TEMPLATE)).get("Parameters", {})
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        fail(
            f"PARAMS names {', '.join(unknown)}, which template.yaml does not have; its parameters: "
            + ", ".join(known)
            + " (docs/settings.md)"
        )


def aws_session():
    """The session sam deploy gets: samconfig.toml's profile and region when it names them, else
    the environment's. boto3 reads AWS_DEFAULT_REGION only; AWS_REGION wins here, as in the AWS
    CLI (scripts/deploy.sh exports it as AWS_DEFAULT_REGION for sam too)."""
    import boto3

    region = config_value("region") or os.environ.get("AWS_REGION") or None
    return boto3.Session(profile_name=config_value("profile") or None, region_name=region)


def preflight() -> None:
    import botocore.exceptions as aws

    check_params()
    stack = stack_name()
    session = aws_session()
    region = session.region_name
    if not region:
        fail(
            "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or a region in your AWS profile "
            "(aws configure set region <region>)"
        )
    try:
        identity = session.client("sts").get_caller_identity()
    except aws.NoCredentialsError:
        fail(
            "no AWS credentials: sign in first (aws configure, aws sso login, AWS_PROFILE=<profile>, "
            "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment)"
        )
    except aws.EndpointConnectionError as error:
        fail(f"cannot reach AWS: {error}")
    except (aws.ClientError, aws.BotoCoreError) as error:
        fail(f"the AWS credentials do not work ({error}); sign in again (aws sso login, aws configure)")
    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
        status = stacks[0]["StackStatus"] if stacks else ""
    except aws.ClientError as error:
        if f"Stack with id {stack} does not exist" not in str(error):
            fail(f"cannot read stack {stack} in {region}: {error}")
        status = ""
    except aws.BotoCoreError as error:
        fail(f"cannot read stack {stack} in {region}: {error}")
    if status == "ROLLBACK_COMPLETE":
        fail(
            f"stack {stack} is in ROLLBACK_COMPLETE (its first deploy failed) and cannot be updated: "
            "delete it (make delete-stack), then deploy again"
        )
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        fail(f"stack {stack} is busy ({status}): wait until it finishes, then deploy again")
    state = f"updates it ({status})" if status and status != "REVIEW_IN_PROGRESS" else "creates it"
    print(f"deploy: stack {stack} in {region}, account {identity['Account']} as {identity['Arn']}: {state}")


def retained() -> None:
    """The stack's table and attachments bucket (DeletionPolicy: Retain), from its outputs."""
    import botocore.exceptions as aws

    stack = stack_name()
    try:
        stacks = aws_session().client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
    except (aws.ClientError, aws.BotoCoreError):
        return  # sam delete says what is wrong
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs") or [])} if stacks else {}
    kept = []
    if outputs.get("TableName"):
        table = outputs["TableName"]
        kept.append(f"  DynamoDB table {table}: aws dynamodb delete-table --table-name {table}")
    if outputs.get("AttachmentsBucketName"):
        name = outputs["AttachmentsBucketName"]
        kept.append(f"  S3 bucket {name}: aws s3 rb s3://{name} --force")
    if kept:
        print(
            f"deploy: deleting stack {stack} keeps its data (DeletionPolicy: Retain); once you no longer "
            "need it, delete it yourself:\n" + "\n".join(kept)
        )


# ---- build output


def sizes(build_dir: Path) -> None:
    rows = []
    for bootstrap in sorted(build_dir.glob("*/bootstrap")):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            archive.write(bootstrap, "bootstrap")
        rows.append((bootstrap.parent.name, bootstrap.stat().st_size, buffer.getbuffer().nbytes))
    if not rows:
        fail(f"no */bootstrap in {build_dir}: did sam build run?")
    width = max(len(name) for name, _, _ in rows)
    print(f"{'function':<{width}}  bootstrap  zipped (deflate -9)")
    for name, raw, zipped in rows:
        print(f"{name:<{width}}  {raw / 1e6:6.1f} MB  {zipped / 1e6:6.1f} MB")


def main(argv: list) -> None:
    command = argv[1] if len(argv) > 1 else ""
    if command == "check-samconfig" and len(argv) == 3:
        check_samconfig(Path(argv[2]))
    elif command == "stack-name" and len(argv) == 2:
        print(stack_name())
    elif command == "preflight" and len(argv) == 2:
        preflight()
    elif command == "retained" and len(argv) == 2:
        retained()
    elif command == "sizes" and len(argv) == 3:
        sizes(Path(argv[2]))
    else:
        fail("usage: deploy_helper.py check-samconfig FILE | stack-name | preflight | retained | sizes DIR")


if __name__ == "__main__":
    main(sys.argv)
