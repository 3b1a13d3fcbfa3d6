#!/usr/bin/env python3
"""Checks of template.yaml that cfn-lint and `sam validate` do not make.

Both linters accept a wrong InvokeMode value or any IAM grant, so this asserts what the
deployed function set must be (docs/functions.md): each function of the operation -> function
map (web/src/routes.ts, generated from shared/protocol/src/functions.rs) built from its binary,
behind a Function URL of the right invoke mode with CORS, with its own log group and reserved
concurrency parameter; IAM exactly what its operations call (template_needs.py, derived from the
code) and nothing wider, the model key or Bedrock by ModelApi; thread cleanup's IAM exactly what
shared/cleanup calls; no development-only settings; the alarms and dashboard of
docs/operations.md.

    python scripts/check-template.py [template.yaml] [--routes web/src/routes.ts]
"""
import argparse
import json
import os
import re
import sys

import yaml


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {suffix: value}


CfnLoader.add_multi_constructor("!", _tag)


def load_template(path):
    with open(path) as f:
        return yaml.load(f, Loader=CfnLoader)


from template_needs import (  # noqa: E402  (scripts/ is on sys.path when run)
    AGENT_ENV, ALARM_TOPIC, BUCKET_ENV, CALLS, CLEANUP_NEEDS, DEV_ONLY_ENV, DURATION_ALARM_SHARE,
    FUNCTION_ALARMS, FUNCTION_CALLS, MODEL_APIS, MODEL_CONDITIONS, MODEL_KEY_ENV, NO_VALUE,
    OPERATIONS, SCOPE_CONDITIONS, SCOPES, SERVING_ENV, STREAMING, TOTALS,
)


def parse_routes(text):
    """The operation -> function map of web/src/routes.ts: the `  "type": "fn",` lines of its
    OPERATION_FUNCTIONS object (a generated file of fixed format)."""
    block = re.search(r"export const OPERATION_FUNCTIONS\b[^\n]*\{\n(.*?)\n\}\);", text, re.S)
    if not block:
        raise ValueError("no `export const OPERATION_FUNCTIONS ... ({ ... });` object")
    routes = {}
    for line in block.group(1).split("\n"):
        m = re.fullmatch(r'  "([a-z_]+\.[a-z_]+)": "([a-z]+)",', line)
        if not m:
            raise ValueError(f"unexpected line in OPERATION_FUNCTIONS: {line!r}")
        if m.group(1) in routes:
            raise ValueError(f"{m.group(1)} is in OPERATION_FUNCTIONS twice")
        routes[m.group(1)] = m.group(2)
    if not routes:
        raise ValueError("OPERATION_FUNCTIONS is empty")
    return routes


def logical_id(function):
    return f"{function[:1].upper()}{function[1:]}Function"


def scope_of(resource):
    for name, expr in SCOPES.items():
        if resource == expr:
            return name
    return None


def as_list(value):
    return value if isinstance(value, list) else [value]


def grants(name, props, errors):
    """(action, scope, condition, sid) of every Allow in the function's inline policies, a
    condition being (name, True|False) for a policy under `!If`, or None. Anything that cannot
    be checked (managed policies, SAM policy templates, NotAction, unknown resources) is an
    error."""
    found = []

    def policy(p, condition):
        if p == NO_VALUE:
            return
        if isinstance(p, dict) and set(p) == {"If"}:
            cond, yes, no = p["If"]
            if condition is not None:
                errors.append(f"{name}: nested conditional policies cannot be checked")
            policy(yes, (cond, True))
            policy(no, (cond, False))
            return
        if not (isinstance(p, dict) and "Statement" in p):
            errors.append(f"{name}: policy {json.dumps(p)[:80]} is not an inline policy document: "
                          "managed policies and SAM policy templates grant more than the code calls")
            return
        for stmt in as_list(p["Statement"]):
            sid = stmt.get("Sid", "?")
            for key in ("NotAction", "NotResource", "NotPrincipal"):
                if key in stmt:
                    errors.append(f"{name}: statement {sid} uses {key}, which grants everything else")
            if stmt.get("Effect") == "Deny":
                continue
            for action in as_list(stmt.get("Action", [])):
                if "*" in action:
                    errors.append(f"{name}: statement {sid} grants the wildcard action {action}: "
                                  "only the actions its operations call may be granted")
                    continue
                for resource in as_list(stmt.get("Resource")):
                    scope = scope_of(resource)
                    if scope is None:
                        errors.append(f"{name}: statement {sid} grants {action} on {json.dumps(resource)}: "
                                      f"wider than (or not) a resource ChatKit uses ({', '.join(SCOPES)})")
                        continue
                    found.append((action, scope, condition, sid))

    for p in props.get("Policies", []) or []:
        policy(p, None)
    return found


def check_iam(name, props, needs, errors, elsewhere=None):
    """`needs`: (action, scope) -> the reasons (operations) that call it. Refuses every grant
    not in it (or under the wrong condition) and every need not granted."""
    for key, why in (("Role", "a role of its own bypasses Policies"),
                     ("Events", "SAM events add policies of their own")):
        if key in props:
            errors.append(f"{name}: must not set {key} ({why}; its IAM could not be checked)")
    granted = {}
    for action, scope, condition, sid in grants(name, props, errors):
        granted.setdefault((action, scope), []).append((condition, sid))
        if (action, scope) not in needs:
            why = "none of its operations calls it"
            other = (elsewhere or {}).get((action, scope))
            if other:
                why += f"; only {other} do"
            errors.append(f"{name}: refusing {action} on the {scope} ({sid}): {why}")
            continue
        required = SCOPE_CONDITIONS.get(scope)
        if required and condition != required:
            cond, value = required
            errors.append(f"{name}: {action} on the {scope} ({sid}) must be granted only when "
                          f"{cond} is {str(value).lower()} (`!If`), not {'always' if condition is None else condition}")
    for (action, scope), reasons in sorted(needs.items()):
        if (action, scope) not in granted:
            errors.append(f"{name}: missing {action} on the {scope}, called by {', '.join(sorted(reasons))}")


def function_needs(operations):
    needs = {}
    for call, reason in FUNCTION_CALLS.items():
        for pair in CALLS[call]:
            needs.setdefault(pair, set()).add(reason)
    for op in operations:
        for call in OPERATIONS[op]:
            for pair in CALLS[call]:
                needs.setdefault(pair, set()).add(op)
    return needs


def check_function(doc, function, operations, needs, elsewhere, errors):
    res = doc["Resources"]
    name = logical_id(function)
    fn = res.get(name)
    if not fn or fn.get("Type") != "AWS::Serverless::Function":
        errors.append(f"{name}: missing; web/src/routes.ts routes {', '.join(operations)} to `{function}`")
        return
    check = lambda cond, msg: cond or errors.append(f"{name}: {msg}")  # noqa: E731
    meta = fn.get("Metadata", {})
    check(meta.get("BuildMethod") == "rust-cargolambda", "Metadata.BuildMethod must be rust-cargolambda")
    check(meta.get("BuildProperties", {}).get("Binary") == function, f"must build the `{function}` binary (Metadata.BuildProperties.Binary)")
    props = fn.get("Properties", {})
    glob = doc.get("Globals", {}).get("Function", {})
    merged = {**glob, **props}
    check(merged.get("Runtime") == "provided.al2023", "Runtime must be provided.al2023")
    check(merged.get("Architectures") == ["arm64"], "Architectures must be [arm64]")
    check(128 <= int(merged.get("MemorySize", 128)) <= 256, "MemorySize must be 128-256 MB")
    streams = sorted(set(operations) & STREAMING)
    timeout = int(merged.get("Timeout", 3))
    if streams:
        check(timeout >= 60, f"Timeout must leave room for a streamed reply (>= 60 s): it serves {', '.join(streams)}")
    else:
        check(timeout <= 30, "Timeout must be short (<= 30 s): it streams nothing")

    url = props.get("FunctionUrlConfig", {})
    mode = "RESPONSE_STREAM" if streams else "BUFFERED"
    why = f"it serves the streamed {', '.join(streams)}" if streams else "none of its operations streams"
    check(url.get("InvokeMode") == mode, f"FunctionUrlConfig.InvokeMode must be {mode} ({why})")
    check(url.get("AuthType") == "NONE", "FunctionUrlConfig.AuthType must be NONE (the function verifies JWTs itself)")
    cors = url.get("Cors", {})
    check(cors.get("AllowOrigins") == {"Ref": "AllowedOrigins"}, "FunctionUrlConfig.Cors.AllowOrigins must be the AllowedOrigins parameter")
    check(cors.get("AllowMethods") == ["POST"], "FunctionUrlConfig.Cors.AllowMethods must be [POST]")
    check(cors.get("AllowCredentials") == {"If": ["AnyOrigin", False, True]}, "FunctionUrlConfig.Cors.AllowCredentials: never with the * origin")

    # its log group, made before it (the function names it), with a retention
    log = merged.get("LoggingConfig", {})
    check(log.get("LogFormat") == "JSON", "LoggingConfig.LogFormat must be JSON")
    check_log_group(doc, name, log, errors)

    # reserved concurrency: a parameter of its own, reserved by default (a flood is throttled,
    # not billed); a condition leaves it unreserved on 0/empty
    rce = props.get("ReservedConcurrentExecutions")
    params = doc.get("Parameters", {})
    ok = isinstance(rce, dict) and "If" in rce and len(rce["If"]) == 3 and rce["If"][2] == NO_VALUE
    param = rce["If"][1].get("Ref") if ok and isinstance(rce["If"][1], dict) else None
    cond = doc.get("Conditions", {}).get(rce["If"][0], {}) if ok else {}
    check(param in params, "ReservedConcurrentExecutions must be `!If [<condition>, !Ref <its own parameter>, !Ref AWS::NoValue]`")
    if param in params:
        check(str(params[param].get("Default", "")).isdigit() and int(params[param]["Default"]) > 0,
              f"{param} must default to a reserved concurrency (a whole number above 0)")
        check(param in str(cond) and "'0'" in str(cond), f"the condition of ReservedConcurrentExecutions must test {param} against 0 (and empty)")

    env = {**glob.get("Environment", {}).get("Variables", {}), **props.get("Environment", {}).get("Variables", {})}
    for var, why in DEV_ONLY_ENV.items():
        check(var not in env, f"must not set {var}: {why}")
    missing = sorted(SERVING_ENV - set(env))
    check(not missing, f"environment lacks {', '.join(missing)} (storage, auth and attachments settings)")
    check(env.get("CHATKIT_ATTACHMENTS_BUCKET") == BUCKET_ENV, "CHATKIT_ATTACHMENTS_BUCKET must be the bucket when AttachmentsOn")
    check(env.get("CHATKIT_METRICS_NAMESPACE") == {"Ref": "MetricsNamespace"}, "CHATKIT_METRICS_NAMESPACE must be the MetricsNamespace parameter (the dashboard and alarms read it)")
    # the secrets it is told to read are the ones its IAM names
    check(env.get("CHATKIT_JWT_SECRET_ARN") == {"If": ["HasJwks", NO_VALUE, SCOPES["JWT secret"]]},
          "CHATKIT_JWT_SECRET_ARN must be the JwtSecret unless HasJwks")
    uses_agent = any("model" in OPERATIONS[op] for op in operations)
    if uses_agent:
        missing = sorted(AGENT_ENV - set(env))
        check(not missing, f"environment lacks {', '.join(missing)} (it runs the agent)")
        check(env.get("OPENAI_API_KEY_SECRET_ARN") == MODEL_KEY_ENV, "OPENAI_API_KEY_SECRET_ARN must be the OpenAIApiKeySecret unless UseBedrock")
        check(env.get("CHATKIT_MODEL_API") == {"Ref": "ModelApi"}, "CHATKIT_MODEL_API must be the ModelApi parameter (its grants follow it)")
    else:
        extra = sorted(AGENT_ENV & set(env))
        check(not extra, f"sets the model/agent settings {', '.join(extra)}, but none of its operations runs the agent")

    check_iam(name, props, needs, errors, elsewhere)

    outputs = doc.get("Outputs", {})
    out = outputs.get(f"{function[:1].upper()}{function[1:]}Url", {})
    check(out.get("Value") == {"GetAtt": [f"{name}Url", "FunctionUrl"]}, f"output {function[:1].upper()}{function[1:]}Url must be its Function URL")
    return param


def check_log_group(doc, name, log, errors):
    group = log.get("LogGroup")
    ref = group.get("Ref") if isinstance(group, dict) else None
    res = doc["Resources"].get(ref, {}) if ref else {}
    if res.get("Type") != "AWS::Logs::LogGroup":
        errors.append(f"{name}: LoggingConfig.LogGroup must `!Ref` an AWS::Logs::LogGroup of the template (so it exists before the function)")
        return
    props = res.get("Properties", {})
    retention = props.get("RetentionInDays")
    if not (isinstance(retention, dict) and retention.get("Ref") in doc.get("Parameters", {})):
        errors.append(f"{name}: its log group {ref} must keep logs for a retention parameter (RetentionInDays: !Ref ...)")
    group_name = props.get("LogGroupName")
    if not (isinstance(group_name, dict) and "${AWS::StackName}" in str(group_name.get("Sub", ""))):
        errors.append(f"{name}: its log group {ref} must be named after the stack (/aws/lambda/${{AWS::StackName}}-...)")
    names = [r.get("Properties", {}).get("LogGroupName") for r in doc["Resources"].values() if r.get("Type") == "AWS::Logs::LogGroup"]
    if names.count(group_name) > 1:
        errors.append(f"{name}: its log group name {group_name} is used twice")
    users = [n for n, r in doc["Resources"].items()
             if r.get("Properties", {}).get("LoggingConfig", {}).get("LogGroup") == {"Ref": ref}]
    if users != [name]:
        errors.append(f"{name}: log group {ref} is shared with {', '.join(u for u in users if u != name)}")


def check_attachments(doc, errors):
    """A private, encrypted bucket with CORS for the allowed origins and a lifecycle; a
    parameter turns it all off. (Its IAM is checked per function.)"""
    check = lambda cond, msg: cond or errors.append(msg)  # noqa: E731
    params = doc.get("Parameters", {})
    conditions = doc.get("Conditions", {})
    check(params.get("Attachments", {}).get("AllowedValues") == ["enabled", "disabled"], "Parameters.Attachments must be enabled|disabled")
    check(conditions.get("AttachmentsOn") == {"Equals": [{"Ref": "Attachments"}, "enabled"]}, "Conditions.AttachmentsOn must follow the Attachments parameter")
    res = doc["Resources"]
    bucket = res.get("AttachmentsBucket", {})
    check(bucket.get("Type") == "AWS::S3::Bucket" and bucket.get("Condition") == "AttachmentsOn", "AttachmentsBucket must be an S3 bucket under AttachmentsOn")
    props = bucket.get("Properties", {})
    block = props.get("PublicAccessBlockConfiguration", {})
    for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
        check(block.get(key) is True, f"AttachmentsBucket must set PublicAccessBlockConfiguration.{key}: true")
    sse = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [{}])
    algorithm = sse[0].get("ServerSideEncryptionByDefault", {}).get("SSEAlgorithm") if sse else None
    check(algorithm in ("AES256", "aws:kms"), "AttachmentsBucket must be encrypted (SSE)")
    cors = props.get("CorsConfiguration", {}).get("CorsRules", [])
    check(len(cors) == 1, "AttachmentsBucket needs exactly one CORS rule")
    for rule in cors:
        check(sorted(rule.get("AllowedMethods", [])) == ["GET", "PUT"], "the bucket's CORS allows exactly PUT and GET")
        check(rule.get("AllowedOrigins") == {"Ref": "AllowedOrigins"}, "the bucket's CORS origins are the AllowedOrigins parameter")
    rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
    flat = []
    for rule in rules:
        flat.extend(b for b in (rule["If"][1:] if isinstance(rule, dict) and "If" in rule else [rule]) if isinstance(b, dict))
    check(any(r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") for r in flat), "the bucket's lifecycle must abort incomplete uploads")
    check(any(r.get("ExpirationInDays") == {"Ref": "RetentionDays"} for r in flat), "the bucket's objects must expire after RetentionDays")
    policy = res.get("AttachmentsBucketPolicy", {}).get("Properties", {}).get("PolicyDocument", {})
    check("aws:SecureTransport" in str(policy), "the bucket policy must deny requests without TLS")


def check_cleanup(doc, errors):
    """issue 10: deletes finish in CleanupFunction, fed the table's stream, with retries, a
    dead-letter queue and least-privilege IAM of its own."""
    check = lambda cond, msg: cond or errors.append(msg)  # noqa: E731
    res = doc["Resources"]
    table = res["ChatTable"]["Properties"]
    check(table.get("StreamSpecification", {}).get("StreamViewType") == "NEW_IMAGE", "the table needs a NEW_IMAGE stream (thread cleanup)")
    cleanup = res.get("CleanupFunction", {})
    check(cleanup.get("Type") == "AWS::Serverless::Function", "CleanupFunction must be a function")
    check(cleanup.get("Metadata", {}).get("BuildProperties", {}).get("Binary") == "cleanup", "CleanupFunction builds the cleanup binary")
    check(cleanup.get("Metadata", {}).get("BuildMethod") == "rust-cargolambda", "CleanupFunction: BuildMethod rust-cargolambda")
    cprops = cleanup.get("Properties", {})
    check("FunctionUrlConfig" not in cprops, "CleanupFunction serves no requests: no Function URL")
    needs = {}
    for reason, pairs in CLEANUP_NEEDS.items():
        for pair in pairs:
            needs.setdefault(pair, set()).add(reason)
    check_iam("CleanupFunction", cprops, needs, errors)
    glob = doc.get("Globals", {}).get("Function", {})
    check_log_group(doc, "CleanupFunction", {**glob, **cprops}.get("LoggingConfig", {}), errors)
    env = {**glob.get("Environment", {}).get("Variables", {}), **cprops.get("Environment", {}).get("Variables", {})}
    check(env.get("CHATKIT_ATTACHMENTS_BUCKET") == BUCKET_ENV, "CleanupFunction needs CHATKIT_ATTACHMENTS_BUCKET when AttachmentsOn (to delete attachment bytes)")
    check("CHATKIT_TABLE_NAME" in env, "CleanupFunction needs CHATKIT_TABLE_NAME")
    for var, why in DEV_ONLY_ENV.items():
        check(var not in env, f"CleanupFunction must not set {var}: {why}")
    leaked = sorted((SERVING_ENV | AGENT_ENV) & set(env) - {"CHATKIT_TABLE_NAME", "CHATKIT_ATTACHMENTS_BUCKET"})
    check(not leaked, f"CleanupFunction must not get the request functions' settings ({', '.join(leaked)}): put them on those functions, not in Globals")
    esms = [r["Properties"] for r in res.values() if r.get("Type") == "AWS::Lambda::EventSourceMapping"]
    esm = next((p for p in esms if p.get("FunctionName") == {"Ref": "CleanupFunction"}), {})
    check(esm.get("EventSourceArn") == {"GetAtt": ["ChatTable", "StreamArn"]}, "an EventSourceMapping must feed the table's stream to CleanupFunction")
    check("ReportBatchItemFailures" in esm.get("FunctionResponseTypes", []), "the cleanup mapping reports batch item failures")
    check(esm.get("BisectBatchOnFunctionError") is True, "the cleanup mapping bisects failing batches")
    check(0 < int(esm.get("MaximumRetryAttempts", -1)) <= 100, "the cleanup mapping retries a bounded number of times")
    dlq = esm.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination", {})
    dlq_name = dlq.get("GetAtt", [""])[0] if isinstance(dlq, dict) else ""
    check(res.get(dlq_name, {}).get("Type") == "AWS::SQS::Queue", "the cleanup mapping sends failed records to an SQS dead-letter queue")
    check(res.get(dlq_name, {}).get("Properties", {}).get("SqsManagedSseEnabled") is True, "the dead-letter queue is encrypted")
    pattern = str(esm.get("FilterCriteria", {}))
    check("deleted_at" in pattern and "#THREAD" in pattern, "the cleanup mapping only passes tombstoned thread heads")


def check_operations(doc, functions, errors):
    """docs/operations.md: each function's alarms (errors, throttles, p9x duration near its
    Timeout), the 5xx and model error rates from their metric filters, every alarm notifying
    the alarm topic, and the dashboard (JSON once substituted, every alarm in it)."""
    res = doc["Resources"]
    glob = doc.get("Globals", {}).get("Function", {})
    alarms = {n: r.get("Properties", {}) for n, r in res.items() if r.get("Type") == "AWS::CloudWatch::Alarm"}
    errors.extend(f"{name}: {key} must be [!Ref {ALARM_TOPIC['Ref']}] (every alarm notifies the alarm topic)"
                  for name, props in alarms.items() for key in ("AlarmActions", "OKActions") if props.get(key) != [ALARM_TOPIC])
    if res.get(ALARM_TOPIC["Ref"], {}).get("Type") != "AWS::SNS::Topic" or not any(
            r.get("Type") == "AWS::SNS::Subscription" and r.get("Condition") == "HasAlarmEmail"
            and r.get("Properties", {}).get("Endpoint") == {"Ref": "AlarmEmail"} for r in res.values()):
        errors.append(f"{ALARM_TOPIC['Ref']} must be an SNS topic, AlarmEmail subscribed to it under Condition HasAlarmEmail")

    for fn in [logical_id(f) for f in functions] + ["CleanupFunction"]:
        def on(metric):
            return [p for p in alarms.values() if p.get("Namespace") == "AWS/Lambda" and p.get("MetricName") == metric
                    and {"Name": "FunctionName", "Value": {"Ref": fn}} in p.get("Dimensions", [])]
        for metric in FUNCTION_ALARMS:
            if not on(metric):
                errors.append(f"{fn}: needs an alarm on its Lambda {metric} metric")
        timeout = int({**glob, **res.get(fn, {}).get("Properties", {})}.get("Timeout", 3))
        low, high = (share * timeout * 1000 for share in DURATION_ALARM_SHARE)
        if not any(str(p.get("ExtendedStatistic", "")).startswith("p9") and isinstance(p.get("Threshold"), (int, float))
                   and low <= p["Threshold"] <= high for p in on("Duration")):
            errors.append(f"{fn}: needs an alarm on its p9x Duration above {low:.0f}-{high:.0f} ms "
                          f"({'-'.join(f'{s:.0%}' for s in DURATION_ALARM_SHARE)} of its {timeout} s Timeout)")

    # the totals of the rate alarms: a metric filter on each function's log group
    agent = [f for f, ops in functions.items() if any("model" in OPERATIONS.get(op, []) for op in ops)]
    transforms = [(r["Properties"].get("LogGroupName"), r["Properties"].get("FilterPattern"), t)
                  for r in res.values() if r.get("Type") == "AWS::Logs::MetricFilter"
                  for t in r.get("Properties", {}).get("MetricTransformations", [])]
    for metric, (pattern, value, whose) in TOTALS.items():
        want = {"MetricNamespace": {"Ref": "MetricsNamespace"}, "MetricName": metric, "MetricValue": value}
        for f in functions if whose == "serving" else agent:
            group = {**glob, **res.get(logical_id(f), {}).get("Properties", {})}.get("LoggingConfig", {}).get("LogGroup")
            if not any(g == group and fp == pattern and want.items() <= t.items() and "DefaultValue" not in t
                       for g, fp, t in transforms):
                errors.append(f"{logical_id(f)}: its log group needs the metric filter `{pattern}` -> {metric} = {value}, "
                              "no DefaultValue (a total of the rate alarms)")
        if not any(f"'{metric}'" in str(p.get("Metrics", "")) for p in alarms.values()):
            errors.append(f"no alarm reads {metric} (a rate alarm of docs/operations.md)")

    bodies = [r.get("Properties", {}).get("DashboardBody") for r in res.values() if r.get("Type") == "AWS::CloudWatch::Dashboard"]
    text = bodies[0].get("Sub") if len(bodies) == 1 and isinstance(bodies[0], dict) else None
    if not isinstance(text, str):
        errors.append("one AWS::CloudWatch::Dashboard is needed, its DashboardBody `!Sub` of JSON")
        return
    errors.extend(f"the dashboard names ${{{ref}}}, not a parameter or resource of the template"
                  for ref in re.findall(r"\$\{([^!}][^}]*)\}", text)
                  if not (ref.startswith("AWS::") or ref.split(".")[0] in set(doc.get("Parameters", {})) | set(res)))
    try:
        json.loads(re.sub(r"\$\{[^}]*\}", "x", text))
    except ValueError as e:
        errors.append(f"the dashboard body is not JSON once substituted: {e}")
    errors.extend(f"{name}: missing from the dashboard's alarm widget" for name in alarms if f"${{{name}.Arn}}" not in text)


def check(doc, routes):
    """Every problem of template `doc` (parsed with CfnLoader) given the operation -> function
    map `routes`, as messages; empty when it passes."""
    errors = []
    unknown = sorted(set(routes) - set(OPERATIONS))
    if unknown:
        errors.append(f"web/src/routes.ts routes {', '.join(unknown)}, which check-template.py has no IAM needs for: add them to OPERATIONS")
    unrouted = sorted(set(OPERATIONS) - set(routes))
    if unrouted:
        errors.append(f"web/src/routes.ts does not route {', '.join(unrouted)}")
    functions = {}
    for op, function in routes.items():
        functions.setdefault(function, []).append(op)
    needs = {f: function_needs([op for op in ops if op in OPERATIONS]) for f, ops in functions.items()}
    reserved = {}
    for function, ops in functions.items():
        elsewhere = {}
        for other, other_needs in needs.items():
            if other != function:
                for pair, reasons in other_needs.items():
                    if pair not in needs[function]:
                        ops_ = sorted(r for r in reasons if r in OPERATIONS) or sorted(reasons)
                        elsewhere[pair] = f"{', '.join(ops_)} (served by `{other}`)"
        param = check_function(doc, function, [op for op in ops if op in OPERATIONS], needs[function], elsewhere, errors)
        if param and param in reserved.values():
            errors.append(f"{logical_id(function)}: shares its reserved concurrency parameter {param}; each function needs its own")
        reserved[function] = param

    # no other function: the all-in-one `chatkit` binary is not deployed by the template
    expected = {logical_id(f) for f in functions} | {"CleanupFunction"}
    for name, r in doc["Resources"].items():
        if r.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function") and name not in expected:
            binary = r.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            errors.append(f"{name}: a function outside the set (binary {binary}): the template deploys {', '.join(sorted(expected))} only")

    # IAM outside the functions' Policies would escape the checks above
    for name, r in doc["Resources"].items():
        if str(r.get("Type", "")).startswith("AWS::IAM::"):
            errors.append(f"{name}: {r['Type']} in the template: functions get IAM only from their Policies (checked here)")

    # ChatKitRoutes: one JSON object of the URLs, pasted as-is by the frontend
    value = doc.get("Outputs", {}).get("ChatKitRoutes", {}).get("Value", {})
    text = value.get("Sub") if isinstance(value, dict) else None
    try:
        parsed = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        parsed = None
    want = {f: f"${{{logical_id(f)}Url.FunctionUrl}}" for f in functions}
    if parsed != want:
        errors.append(f"output ChatKitRoutes must be !Sub of the JSON object {json.dumps(want)}")

    check_attachments(doc, errors)
    check_cleanup(doc, errors)
    check_operations(doc, functions, errors)

    table = doc["Resources"]["ChatTable"]["Properties"]
    check_ = lambda cond, msg: cond or errors.append(msg)  # noqa: E731
    check_(table.get("BillingMode") == "PAY_PER_REQUEST", "table must be on-demand")
    check_(table.get("TimeToLiveSpecification", {}).get("AttributeName") == "expires_at", "TTL attribute must be expires_at")
    check_(table.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is True, "PITR must be on")

    # issue 11: a JWKS without iss/aud accepts any token of the identity provider's tenant
    rule = doc.get("Rules", {}).get("JwksNeedsIssuerAndAudience", {})
    asserted = str(rule.get("Assertions", []))
    check_("JwtIssuer" in asserted and "JwtAudience" in asserted, "Rules.JwksNeedsIssuerAndAudience must require JwtIssuer and JwtAudience")
    params = doc.get("Parameters", {})
    for name in ("JwksUrl", "RetrievalUrl", "OpenAIBaseUrl"):
        check_("https://" in params.get(name, {}).get("AllowedPattern", ""), f"{name} must only allow https:// URLs")

    # the model API: Bedrock's grant and the key secret's hang on these (template_needs.py)
    check_(params.get("ModelApi", {}).get("AllowedValues") == MODEL_APIS, f"Parameters.ModelApi must allow exactly {', '.join(MODEL_APIS)}")
    for name, expr in MODEL_CONDITIONS.items():
        check_(doc.get("Conditions", {}).get(name) == expr, f"Conditions.{name} must be as MODEL_CONDITIONS in scripts/template_needs.py declares it")
    rule = str(doc.get("Rules", {}).get("BedrockModelsNeedArns", {}))
    check_("bedrock" in rule and "BedrockModelArns" in rule, "Rules.BedrockModelsNeedArns must require BedrockModelArns when Bedrock serves Models")
    return errors


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("template", nargs="?", default="template.yaml")
    parser.add_argument("--routes", help="the operation -> function map (default: web/src/routes.ts beside the template)")
    args = parser.parse_args(argv)
    routes_path = args.routes or os.path.join(os.path.dirname(os.path.abspath(args.template)), "web", "src", "routes.ts")
    try:
        with open(routes_path) as f:
            routes = parse_routes(f.read())
    except (OSError, ValueError) as e:
        print(f"template check: cannot read the operation -> function map {routes_path}: {e}", file=sys.stderr)
        return 1
    errors = check(load_template(args.template), routes)
    for e in errors:
        print(f"template check: {e}", file=sys.stderr)
    if errors:
        return 1
    functions = ", ".join(sorted(set(routes.values())))
    print(f"template check: {args.template} ok (functions {functions} as web/src/routes.ts routes them, and cleanup; "
          "IAM exactly what their operations call, the model key or Bedrock by ModelApi; no dev settings; "
          "private attachments bucket; alarms and dashboard)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
