"""Tests of scripts/deploy_helper.py's checks that need no AWS (`make lint-deploy` runs them
with the SAM CLI's interpreter, .cache/venv-sam/bin/python): the samconfig.toml check, the
PARAMS check, the stack name, and the preflight on the stack states that moto cannot produce
(botocore's Stubber answers for STS and CloudFormation; the rest of the preflight runs against
moto in scripts/test_deploy_aws.py)."""

import contextlib
import io
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import boto3
from botocore.stub import Stubber

HELPER = Path(__file__).resolve().parent / "deploy_helper.py"
ROOT = HELPER.parent.parent


def run(*args, **env):
    environment = {k: v for k, v in os.environ.items() if k not in ("STACK", "PARAMS")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, str(HELPER), *args], capture_output=True, text=True, env=environment, cwd=ROOT
    )


class SamconfigCheck(unittest.TestCase):
    def check(self, text):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as file:
            file.write(text)
        try:
            return run("check-samconfig", file.name)
        finally:
            os.unlink(file.name)

    def test_the_committed_file_passes(self):
        result = run("check-samconfig", str(ROOT / "samconfig.toml"))
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_a_misspelt_key_fails(self):
        result = self.check('version = 0.1\n[default.deploy.parameters]\nfail_on_empty_changset = false\n')
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("fail_on_empty_changset: not an option of sam deploy", result.stderr)

    def test_a_value_of_the_wrong_kind_fails(self):
        result = self.check('version = 0.1\n[default.deploy.parameters]\non_failure = "DELET"\nresolve_s3 = "maybe"\n')
        self.assertIn("on_failure = 'DELET'", result.stderr)
        self.assertIn("resolve_s3 = 'maybe'", result.stderr)

    def test_commands_of_several_words_and_global_keys(self):
        result = self.check(
            'version = 0.1\n[default.global.parameters]\nstack_name = "x"\n'
            '[default.list_stack_outputs.parameters]\noutput = "json"\n'
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        result = self.check('version = 0.1\n[default.global.parameters]\nregionn = "x"\n[default.deplo.parameters]\n')
        self.assertIn("regionn: not an option of any sam command", result.stderr)
        self.assertIn("no sam command 'deplo'", result.stderr)


class Params(unittest.TestCase):
    # preflight checks PARAMS before it needs a region or credentials
    def test_an_unknown_parameter_fails_before_aws(self):
        result = run("preflight", PARAMS="ModelApi=bedrock Model=x")
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("PARAMS names Model, which template.yaml does not have", result.stderr)

    def test_a_malformed_value_fails(self):
        result = run("preflight", PARAMS="ModelName")
        self.assertIn('PARAMS="ModelName"', result.stderr)


class StackName(unittest.TestCase):
    def test_samconfig_then_stack(self):
        self.assertEqual(run("stack-name").stdout.strip(), "chatkit")
        self.assertEqual(run("stack-name", STACK="chatkit-staging").stdout.strip(), "chatkit-staging")


class StackStates(unittest.TestCase):
    """The preflight on a stack that cannot be deployed to: ROLLBACK_COMPLETE and in progress."""

    def preflight(self, status):
        sys.path.insert(0, str(HELPER.parent))
        import deploy_helper

        session = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-1")
        sts, cloudformation = session.client("sts"), session.client("cloudformation")
        with Stubber(sts) as sts_stub, Stubber(cloudformation) as cfn_stub:
            sts_stub.add_response(
                "get_caller_identity",
                {"UserId": "AIDA", "Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/ci"},
            )
            stack = {"StackName": "chatkit", "CreationTime": "2026-01-01T00:00:00Z", "StackStatus": status}
            cfn_stub.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "chatkit"})
            fake = mock.Mock(region_name="eu-west-1")
            fake.client.side_effect = {"sts": sts, "cloudformation": cloudformation}.__getitem__
            out, err = io.StringIO(), io.StringIO()
            environment = {k: v for k, v in os.environ.items() if k not in ("STACK", "PARAMS")}
            with contextlib.ExitStack() as patched:
                patched.enter_context(mock.patch.object(deploy_helper, "aws_session", return_value=fake))
                patched.enter_context(mock.patch.dict(os.environ, environment, clear=True))
                patched.enter_context(contextlib.redirect_stdout(out))
                patched.enter_context(contextlib.redirect_stderr(err))
                try:
                    deploy_helper.preflight()
                    code = 0
                except SystemExit as exit:
                    code = exit.code
        return code, out.getvalue(), err.getvalue()

    def test_a_stack_whose_first_deploy_failed_must_be_deleted_first(self):
        code, _, err = self.preflight("ROLLBACK_COMPLETE")
        self.assertEqual(code, 1)
        self.assertIn("stack chatkit is in ROLLBACK_COMPLETE", err)
        self.assertIn("make delete-stack", err)

    def test_a_busy_stack_is_waited_for(self):
        for status in ("UPDATE_IN_PROGRESS", "CREATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS"):
            code, _, err = self.preflight(status)
            self.assertEqual(code, 1, status)
            self.assertIn(f"stack chatkit is busy ({status}): wait until it finishes", err)

    def test_a_stack_after_a_rolled_back_update_is_updated(self):
        code, out, err = self.preflight("UPDATE_ROLLBACK_COMPLETE")
        self.assertEqual(code, 0, err)
        self.assertIn("account 123456789012 as arn:aws:iam::123456789012:user/ci: updates it", out)


if __name__ == "__main__":
    unittest.main()
