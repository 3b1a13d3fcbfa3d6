#!/usr/bin/env python3
"""Tests of scripts/check-template.py: template.yaml passes, and grants wider (or narrower)
than the operations need are refused. No network, no AWS.

    .cache/venv/bin/python scripts/test_check_template.py
"""
import copy
import importlib.util
import os
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
_spec = importlib.util.spec_from_file_location("check_template", os.path.join(HERE, "check-template.py"))
ct = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ct)


def statements(doc, function):
    """Every statement of the function's inline policies, conditional ones included."""
    found = []

    def walk(policy):
        if isinstance(policy, dict) and "If" in policy:
            for branch in policy["If"][1:]:
                walk(branch)
        elif isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])

    for policy in doc["Resources"][function]["Properties"]["Policies"]:
        walk(policy)
    return found


def statement(doc, function, sid):
    return next(s for s in statements(doc, function) if s.get("Sid") == sid)


def add_action(doc, function, sid, action):
    stmt = statement(doc, function, sid)
    stmt["Action"] = ct.as_list(stmt["Action"]) + [action]


class CheckTemplate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = ct.load_template(os.path.join(ROOT, "template.yaml"))
        with open(os.path.join(ROOT, "web", "src", "routes.ts")) as f:
            cls.routes = ct.parse_routes(f.read())

    def errors(self, mutate=None, routes=None):
        doc = copy.deepcopy(self.template)
        if mutate:
            mutate(doc)
        return ct.check(doc, routes or self.routes)

    def assertRefused(self, errors, *words):
        self.assertTrue(any(all(w in e for w in words) for e in errors),
                        f"no error mentions {words}; errors: {errors}")

    def test_the_template_passes(self):
        self.assertEqual(self.errors(), [])

    def test_routes_are_read_from_the_generated_file(self):
        self.assertEqual(len(self.routes), 17)
        self.assertEqual(self.routes["threads.create"], "turns")
        self.assertEqual(self.routes["attachments.delete"], "threads")
        self.assertEqual(set(self.routes), set(ct.OPERATIONS))
        with self.assertRaises(ValueError):
            ct.parse_routes('export const OPERATION_FUNCTIONS = Object.freeze({\n  "threads.list": threads,\n});')

    def test_s3_delete_on_turns_is_refused(self):
        errors = self.errors(lambda d: add_action(d, "TurnsFunction", "TurnsAttachments", "s3:DeleteObject"))
        self.assertRefused(errors, "TurnsFunction", "s3:DeleteObject", "none of its operations", "attachments.delete")

    def test_model_key_for_threads_is_refused(self):
        def give_key(doc):
            doc["Resources"]["ThreadsFunction"]["Properties"]["Policies"][0]["Statement"].append(
                {"Sid": "ModelApiKey", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                 "Resource": {"Ref": "OpenAIApiKeySecret"}})
        self.assertRefused(self.errors(give_key), "ThreadsFunction", "secretsmanager:GetSecretValue", "model key secret")

    def test_mcp_secrets_for_threads_are_refused(self):
        def give_mcp(doc):
            doc["Resources"]["ThreadsFunction"]["Properties"]["Policies"].append(
                {"If": ["HasMcpSecrets", {"Statement": [{"Sid": "Mcp", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                                                          "Resource": {"Ref": "McpSecretArns"}}]}, ct.NO_VALUE]})
        self.assertRefused(self.errors(give_mcp), "ThreadsFunction", "MCP token secrets")

    def test_scan_is_refused(self):
        for function, sid in (("ThreadsFunction", "ThreadsTable"), ("TurnsFunction", "TurnsTable")):
            errors = self.errors(lambda d: add_action(d, function, sid, "dynamodb:Scan"))
            self.assertRefused(errors, function, "dynamodb:Scan", "none of its operations")

    def test_batch_write_on_threads_is_refused(self):
        errors = self.errors(lambda d: add_action(d, "ThreadsFunction", "ThreadsTable", "dynamodb:BatchWriteItem"))
        self.assertRefused(errors, "ThreadsFunction", "dynamodb:BatchWriteItem", "served by `turns`")

    def test_wildcards_are_refused(self):
        errors = self.errors(lambda d: add_action(d, "TurnsFunction", "TurnsTable", "dynamodb:*"))
        self.assertRefused(errors, "TurnsFunction", "wildcard action dynamodb:*")
        errors = self.errors(lambda d: statement(d, "ThreadsFunction", "ThreadsTable").update(Resource="*"))
        self.assertRefused(errors, "ThreadsFunction", '"*"', "wider")
        errors = self.errors(lambda d: statement(d, "ThreadsFunction", "ThreadsList").update(
            Resource={"Sub": "${ChatTable.Arn}/index/*"}))
        self.assertRefused(errors, "ThreadsFunction", "index/*")

    def test_a_missing_action_is_refused(self):
        def drop_query(doc):
            stmt = statement(doc, "ThreadsFunction", "ThreadsTable")
            stmt["Action"] = [a for a in stmt["Action"] if a != "dynamodb:Query"]
        self.assertRefused(self.errors(drop_query), "ThreadsFunction", "missing dynamodb:Query on the table", "items.list")

    def test_an_unconditional_jwt_secret_is_refused(self):
        def always(doc):
            policies = doc["Resources"]["ThreadsFunction"]["Properties"]["Policies"]
            i = next(i for i, p in enumerate(policies) if "If" in p and p["If"][0] == "HasJwks")
            policies[i] = policies[i]["If"][2]
        self.assertRefused(self.errors(always), "ThreadsFunction", "JWT secret", "HasJwks is false")

    def test_managed_policies_are_refused(self):
        errors = self.errors(lambda d: d["Resources"]["ThreadsFunction"]["Properties"]["Policies"].append(
            {"DynamoDBCrudPolicy": {"TableName": {"Ref": "ChatTable"}}}))
        self.assertRefused(errors, "ThreadsFunction", "not an inline policy")

    def test_cleanup_is_held_to_what_it_calls(self):
        errors = self.errors(lambda d: add_action(d, "CleanupFunction", "CleanupTable", "dynamodb:PutItem"))
        self.assertRefused(errors, "CleanupFunction", "dynamodb:PutItem")

    def test_an_operation_moved_to_threads_needs_its_calls_there(self):
        routes = dict(self.routes, **{"input.transcribe": "threads"})
        errors = self.errors(routes=routes)
        self.assertRefused(errors, "ThreadsFunction", "missing secretsmanager:GetSecretValue on the model key secret", "input.transcribe")
        self.assertRefused(errors, "ThreadsFunction", "CHATKIT_MODEL")

    def test_function_shape_follows_the_map(self):
        errors = self.errors(lambda d: d["Resources"]["ThreadsFunction"]["Properties"]["FunctionUrlConfig"].update(
            InvokeMode="RESPONSE_STREAM"))
        self.assertRefused(errors, "ThreadsFunction", "InvokeMode must be BUFFERED")
        errors = self.errors(lambda d: d["Resources"]["TurnsFunction"]["Metadata"]["BuildProperties"].update(Binary="chatkit"))
        self.assertRefused(errors, "TurnsFunction", "`turns` binary")
        errors = self.errors(lambda d: d["Resources"]["ThreadsFunction"]["Properties"].pop("LoggingConfig"))
        self.assertRefused(errors, "ThreadsFunction", "LogGroup")
        errors = self.errors(lambda d: d["Resources"].update(ChatKitFunction=copy.deepcopy(d["Resources"]["TurnsFunction"])))
        self.assertRefused(errors, "ChatKitFunction", "outside the set")


if __name__ == "__main__":
    unittest.main()
