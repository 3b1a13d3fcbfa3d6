"""Tests of the AWS half of `make deploy` against moto's STS and CloudFormation: the preflight
(region, credentials, the stack's state), the retained-data notice of `make delete-stack`, and
`make outputs` (scripts/deploy.sh outputs, which runs `sam list stack-outputs`).

`make test` runs it under scripts/with-moto.sh with the SAM CLI's interpreter
(.cache/venv-sam/bin/python): the moto server is the one AWS_ENDPOINT_URL_S3 names, and every
command here reaches it through AWS_ENDPOINT_URL, which boto3 (and so sam) honours."""

import json
import os
import subprocess
import sys
import unittest
import uuid
from pathlib import Path

import boto3

HELPER = Path(__file__).resolve().parent / "deploy_helper.py"
ROOT = HELPER.parent.parent
MOTO = os.environ.get("AWS_ENDPOINT_URL_S3", "")
REGION = "eu-west-1"
# what the deploy commands read from the environment, cleared for every run here
AWS_VARIABLES = (
    "STACK",
    "PARAMS",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
# a stack like the real one where the commands look: its retained table and bucket as outputs
TEMPLATE = {
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
    "Outputs": {
        "TableName": {"Value": "chatkit-threads-x1"},
        "AttachmentsBucketName": {"Value": "chatkit-attachments-x1"},
        "ChatKitRoutes": {"Value": '{"turns": "https://t.example/", "threads": "https://r.example/"}'},
    },
}


def environment(**overrides):
    """A clean AWS environment pointed at moto, with test credentials and REGION; an override of
    None removes the variable."""
    env = {k: v for k, v in os.environ.items() if k not in AWS_VARIABLES and not k.startswith("AWS_ENDPOINT_URL")}
    env.update(
        AWS_ENDPOINT_URL=MOTO,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        # no profile, config or instance metadata to fall back on
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        SAM_CLI_TELEMETRY="0",
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def helper(*args, **env):
    return subprocess.run(
        [sys.executable, str(HELPER), *args], capture_output=True, text=True, env=environment(**env), cwd=ROOT
    )


def cloudformation():
    return boto3.client(
        "cloudformation",
        endpoint_url=MOTO,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def a_stack_name():
    return f"chatkit-test-{uuid.uuid4().hex[:8]}"


class Preflight(unittest.TestCase):
    def test_a_new_stack_is_created_in_the_account_of_the_credentials(self):
        stack = a_stack_name()
        result = helper("preflight", STACK=stack)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"stack {stack} in {REGION}, account 123456789012", result.stdout)
        self.assertTrue(result.stdout.rstrip().endswith("creates it"), result.stdout)

    def test_an_existing_stack_is_updated(self):
        stack = a_stack_name()
        cloudformation().create_stack(StackName=stack, TemplateBody=json.dumps(TEMPLATE))
        result = helper("preflight", STACK=stack)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("updates it (CREATE_COMPLETE)", result.stdout)

    def test_a_stack_that_only_has_a_change_set_is_still_created(self):
        # sam deploy's first change set leaves the stack in REVIEW_IN_PROGRESS until executed
        stack = a_stack_name()
        cloudformation().create_change_set(
            StackName=stack, ChangeSetName="first", ChangeSetType="CREATE", TemplateBody=json.dumps(TEMPLATE)
        )
        result = helper("preflight", STACK=stack)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(result.stdout.rstrip().endswith("creates it"), result.stdout)

    def test_aws_region_wins_over_aws_default_region(self):
        result = helper("preflight", STACK=a_stack_name(), AWS_REGION="ap-south-1", AWS_DEFAULT_REGION="us-west-2")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(" in ap-south-1,", result.stdout)

    def test_no_region_fails_with_what_to_set(self):
        result = helper("preflight", AWS_REGION=None)
        self.assertEqual(result.returncode, 1)
        self.assertIn("no AWS region: set AWS_REGION", result.stderr)

    def test_no_credentials_fail_with_how_to_sign_in(self):
        result = helper("preflight", AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None)
        self.assertEqual(result.returncode, 1)
        self.assertIn("no AWS credentials: sign in first", result.stderr)

    def test_an_unreachable_aws_fails_with_the_endpoint(self):
        result = helper("preflight", AWS_ENDPOINT_URL="http://127.0.0.1:9")
        self.assertEqual(result.returncode, 1)
        self.assertIn("cannot reach AWS", result.stderr)
        self.assertIn("127.0.0.1:9", result.stderr)

    def test_parameters_are_checked_before_aws(self):
        # an unreachable AWS is never asked: the misspelt parameter is the message
        result = helper("preflight", PARAMS="Modelapi=bedrock", AWS_ENDPOINT_URL="http://127.0.0.1:9")
        self.assertEqual(result.returncode, 1)
        self.assertIn("PARAMS names Modelapi", result.stderr)
        self.assertNotIn("cannot reach AWS", result.stderr)


class DeleteStack(unittest.TestCase):
    def test_the_retained_table_and_bucket_are_named_with_how_to_delete_them(self):
        stack = a_stack_name()
        cloudformation().create_stack(StackName=stack, TemplateBody=json.dumps(TEMPLATE))
        result = helper("retained", STACK=stack)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"deleting stack {stack} keeps its data", result.stdout)
        self.assertIn("aws dynamodb delete-table --table-name chatkit-threads-x1", result.stdout)
        self.assertIn("aws s3 rb s3://chatkit-attachments-x1 --force", result.stdout)

    def test_a_missing_stack_says_nothing_and_leaves_it_to_sam(self):
        result = helper("retained", STACK=a_stack_name())
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, "")


class Outputs(unittest.TestCase):
    def test_make_outputs_prints_the_routes_for_the_page(self):
        stack = a_stack_name()
        cloudformation().create_stack(StackName=stack, TemplateBody=json.dumps(TEMPLATE))
        result = subprocess.run(
            ["bash", "scripts/deploy.sh", "outputs"],
            capture_output=True,
            text=True,
            env=environment(STACK=stack),
            cwd=ROOT,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("ChatKitRoutes", result.stdout)
        self.assertIn("https://t.example/", result.stdout)
        self.assertIn("chatkit-threads-x1", result.stdout)


if __name__ == "__main__":
    if not MOTO:
        sys.exit("test_deploy_aws.py: AWS_ENDPOINT_URL_S3 is not set: run it under scripts/with-moto.sh")
    unittest.main()
