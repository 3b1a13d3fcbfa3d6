#!/usr/bin/env python3
"""Tests of scripts/check-template.py: template.yaml passes, and grants wider (or narrower)
than the operations need are refused (the model key or Bedrock by ModelApi included), as are
missing alarms, alarm actions, rate totals and a broken dashboard. No network, no AWS.

    .cache/venv/bin/python scripts/test_check_template.py
"""
import copy
import importlib.util
import json
import os
import re
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


def conditional_policy(doc, function, sid):
    """(the Policies list, the index of the `!If` policy holding statement `sid`)."""
    policies = doc["Resources"][function]["Properties"]["Policies"]
    return policies, next(i for i, p in enumerate(policies) if "If" in p and sid in str(p))


def resolve(expr, params, doc):
    """The value of a template expression for the given parameters (the intrinsics the model's
    grant uses), conditions evaluated from the template."""
    r = lambda e: resolve(e, params, doc)  # noqa: E731
    if isinstance(expr, list):
        return [r(e) for e in expr]
    if not isinstance(expr, dict):
        return expr
    (fn, arg), = expr.items()
    if fn == "Ref":
        return params[arg]
    if fn == "If":
        return r(arg[1] if r(doc["Conditions"][arg[0]]) else arg[2])
    if fn == "Sub":
        text, names = (arg, {}) if isinstance(arg, str) else (arg[0], {k: r(v) for k, v in arg[1].items()})
        return re.sub(r"\$\{([^}]+)\}", lambda m: names.get(m.group(1), params.get(m.group(1))), text)
    value = {"Equals": lambda: r(arg[0]) == r(arg[1]), "Not": lambda: not r(arg[0]), "Or": lambda: any(map(r, arg)),
             "Join": lambda: arg[0].join(r(arg[1])), "Split": lambda: r(arg[1]).split(arg[0]),
             "Select": lambda: r(arg[1])[int(arg[0])]}
    return value[fn]()


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

    def test_reserved_concurrency_is_on_by_default(self):
        for fn, param in (("TurnsFunction", "TurnsReservedConcurrency"), ("ThreadsFunction", "ThreadsReservedConcurrency")):
            for default in ("", "0"):
                errors = self.errors(lambda d: d["Parameters"][param].update(Default=default))
                self.assertRefused(errors, fn, param, "reserved concurrency")

    # ---- the model: the key secret, or Bedrock (ModelApi bedrock) ------------------------------

    def test_the_bedrock_grant_exists_only_under_use_bedrock(self):
        def always(doc):
            policies, i = conditional_policy(doc, "TurnsFunction", "BedrockModel")
            policies[i] = policies[i]["If"][1]
        self.assertRefused(self.errors(always), "TurnsFunction", "bedrock:InvokeModelWithResponseStream", "only when UseBedrock is true")

        def dropped(doc):
            policies, i = conditional_policy(doc, "TurnsFunction", "BedrockModel")
            del policies[i]
        self.assertRefused(self.errors(dropped), "TurnsFunction", "missing bedrock:InvokeModelWithResponseStream on the Bedrock model")

        def on_threads(doc):
            policies, i = conditional_policy(doc, "TurnsFunction", "BedrockModel")
            doc["Resources"]["ThreadsFunction"]["Properties"]["Policies"].append(copy.deepcopy(policies[i]))
        self.assertRefused(self.errors(on_threads), "ThreadsFunction", "bedrock:InvokeModelWithResponseStream", "served by `turns`")

    def test_a_bedrock_grant_wider_than_the_model_is_refused(self):
        for resource in ("*", {"Sub": "arn:${AWS::Partition}:bedrock:*::foundation-model/*"}):
            errors = self.errors(lambda d: statement(d, "TurnsFunction", "BedrockModel").update(Resource=resource))
            self.assertRefused(errors, "TurnsFunction", "BedrockModel", "bedrock:InvokeModelWithResponseStream", "wider")
        errors = self.errors(lambda d: add_action(d, "TurnsFunction", "BedrockModel", "bedrock:InvokeModel"))
        self.assertRefused(errors, "TurnsFunction", "refusing bedrock:InvokeModel on the Bedrock model", "none of its operations")
        errors = self.errors(lambda d: add_action(d, "TurnsFunction", "BedrockModel", "bedrock:*"))
        self.assertRefused(errors, "TurnsFunction", "wildcard action bedrock:*")

    def test_the_model_key_under_bedrock_is_refused(self):
        def always(doc):
            policies, i = conditional_policy(doc, "TurnsFunction", "ModelApiKey")
            policies[i] = policies[i]["If"][2]
        self.assertRefused(self.errors(always), "TurnsFunction", "model key secret", "only when UseBedrock is false")

        def flipped(doc):
            policies, i = conditional_policy(doc, "TurnsFunction", "ModelApiKey")
            cond, yes, no = policies[i]["If"]
            policies[i]["If"] = [cond, no, yes]
        self.assertRefused(self.errors(flipped), "TurnsFunction", "model key secret", "only when UseBedrock is false")

        def told(doc):
            env = doc["Resources"]["TurnsFunction"]["Properties"]["Environment"]["Variables"]
            env["OPENAI_API_KEY_SECRET_ARN"] = {"Ref": "OpenAIApiKeySecret"}
        self.assertRefused(self.errors(told), "TurnsFunction", "OPENAI_API_KEY_SECRET_ARN", "unless UseBedrock")

    def test_the_model_api_parameter_and_conditions_are_held(self):
        errors = self.errors(lambda d: d["Parameters"]["ModelApi"].update(AllowedValues=["responses", "chat_completions"]))
        self.assertRefused(errors, "ModelApi", "bedrock")
        errors = self.errors(lambda d: d["Conditions"].update(UseBedrock={"Equals": ["bedrock", "bedrock"]}))
        self.assertRefused(errors, "Conditions.UseBedrock")
        errors = self.errors(lambda d: d["Resources"]["TurnsFunction"]["Properties"]["Environment"]["Variables"].update(
            CHATKIT_MODEL_API="bedrock"))
        self.assertRefused(errors, "TurnsFunction", "CHATKIT_MODEL_API")

    def test_the_bedrock_resources_follow_the_model(self):
        doc = copy.deepcopy(self.template)
        resource = statement(doc, "TurnsFunction", "BedrockModel")["Resource"]
        base = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333", "BedrockModelArns": [""]}
        model = "anthropic.claude-3-5-haiku-20241022-v1:0"
        cases = {
            model: ["arn:aws:bedrock:eu-west-1::foundation-model/" + model],
            "amazon.nova-pro-v1:0": ["arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-pro-v1:0"],
            "eu." + model: ["arn:aws:bedrock:eu-west-1:111122223333:inference-profile/eu." + model,
                            "arn:aws:bedrock:*::foundation-model/" + model],
            "global." + model: ["arn:aws:bedrock:eu-west-1:111122223333:inference-profile/global." + model,
                                "arn:aws:bedrock:*::foundation-model/" + model],
            "us-gov." + model: ["arn:aws:bedrock:eu-west-1:111122223333:inference-profile/us-gov." + model,
                                "arn:aws:bedrock:*::foundation-model/" + model],
        }
        for name, want in cases.items():
            self.assertEqual(ct.as_list(resolve(resource, dict(base, ModelName=name), doc)), want, name)
        given = ["arn:aws:bedrock:eu-west-1:111122223333:application-inference-profile/abc", "arn:aws:bedrock:eu-west-1::foundation-model/x"]
        self.assertEqual(resolve(resource, dict(base, ModelName=model, BedrockModelArns=given), doc), given)

    # ---- operations: alarms, their topic, the dashboard -----------------------------------------

    def test_every_function_has_its_alarms(self):
        errors = self.errors(lambda d: d["Resources"].pop("CleanupErrorsAlarm"))
        self.assertRefused(errors, "CleanupFunction", "alarm on its Lambda Errors")
        errors = self.errors(lambda d: d["Resources"].pop("ThreadsThrottlesAlarm"))
        self.assertRefused(errors, "ThreadsFunction", "alarm on its Lambda Throttles")
        # the duration alarm follows the function's Timeout
        errors = self.errors(lambda d: d["Resources"]["TurnsFunction"]["Properties"].update(Timeout=300))
        self.assertRefused(errors, "TurnsFunction", "p9x Duration", "300 s Timeout")
        errors = self.errors(lambda d: d["Resources"]["ThreadsDurationAlarm"]["Properties"].update(Threshold=10000))
        self.assertRefused(errors, "ThreadsFunction", "p9x Duration", "10 s Timeout")

    def test_every_alarm_notifies_the_topic(self):
        errors = self.errors(lambda d: d["Resources"]["ModelErrorRateAlarm"]["Properties"].pop("OKActions"))
        self.assertRefused(errors, "ModelErrorRateAlarm", "OKActions", "AlarmTopic")
        errors = self.errors(lambda d: d["Resources"].pop("AlarmEmailSubscription"))
        self.assertRefused(errors, "AlarmTopic", "AlarmEmail")

    def test_the_rate_alarms_have_their_totals(self):
        errors = self.errors(lambda d: d["Resources"].pop("ThreadsHttp5xxMetric"))
        self.assertRefused(errors, "ThreadsFunction", "Http5xx")
        errors = self.errors(lambda d: d["Resources"]["TurnModelErrorsMetric"]["Properties"]["MetricTransformations"][0].update(
            DefaultValue=0))
        self.assertRefused(errors, "TurnsFunction", "TurnModelErrors", "DefaultValue")
        errors = self.errors(lambda d: d["Resources"].pop("ServerErrorRateAlarm"))
        self.assertRefused(errors, "no alarm reads Http5xx")

    def test_the_dashboard_is_json_and_shows_every_alarm(self):
        body = self.template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Sub"]
        widgets = json.loads(re.sub(r"\$\{[^}]*\}", "x", body))["widgets"]
        self.assertTrue(any(w["type"] == "alarm" for w in widgets))
        sub = lambda text: lambda d: d["Resources"]["Dashboard"]["Properties"]["DashboardBody"].update(Sub=text)  # noqa: E731
        self.assertRefused(self.errors(sub(body.replace('"widgets": [', '"widgets": [[', 1))), "dashboard body is not JSON")
        self.assertRefused(self.errors(sub(body.replace("${TurnsFunction}", "${TurnFunction}", 1))), "${TurnFunction}")
        self.assertRefused(self.errors(sub(body.replace('"${ServerErrorRateAlarm.Arn}",', "", 1))),
                           "ServerErrorRateAlarm", "dashboard's alarm widget")


if __name__ == "__main__":
    unittest.main()
