"""Tests of scripts/deploy_helper.py's checks that need no AWS (`make lint-deploy` runs them
with the SAM CLI's interpreter, .cache/venv-sam/bin/python): the samconfig.toml check, the
PARAMS check and the stack name."""

import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

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


if __name__ == "__main__":
    unittest.main()
