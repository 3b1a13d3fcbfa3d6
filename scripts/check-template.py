#!/usr/bin/env python3
"""Checks of template.yaml that cfn-lint and `sam validate` do not make.

Both linters accept a wrong InvokeMode value, so this asserts what the deployed function must
be: a streaming Function URL, the Rust build, least-privilege IAM limited to the DynamoDB
actions the store really calls, and no development-only settings.
"""
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
    return {suffix: value}


CfnLoader.add_multi_constructor("!", _tag)

# Every DynamoDB action the store (shared/dynamodb) calls, and nothing else.
STORE_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",  # TTL refresh of a thread inside an item's transaction
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:Query",
    "dynamodb:BatchWriteItem",
}

# issue 8: attachment bytes on S3
ATTACHMENT_ACTIONS = {"s3:PutObject", "s3:GetObject", "s3:DeleteObject"}
ATTACHMENT_OBJECTS = "${AttachmentsBucket.Arn}/attachments/*"


def check_attachments(doc, policies, s3_actions, check):
    """A private, encrypted bucket with CORS for the allowed origins and a lifecycle; IAM limited
    to put/get/delete of its attachment objects; a parameter turns it all off."""
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

    check(s3_actions == ATTACHMENT_ACTIONS, f"S3 actions must be exactly {sorted(ATTACHMENT_ACTIONS)}, got {sorted(s3_actions)}")
    for policy in policies:
        for stmt in policy.get("Statement", []):
            acts = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            if any(a.startswith("s3:") for a in acts):
                check(stmt.get("Resource") == {"Sub": ATTACHMENT_OBJECTS}, f"S3 actions only on {ATTACHMENT_OBJECTS}")
                check(all(a.startswith("s3:") for a in acts), "S3 actions in a statement of their own")
    env = res["ChatKitFunction"]["Properties"].get("Environment", {}).get("Variables", {})
    expected = {"If": ["AttachmentsOn", {"Ref": "AttachmentsBucket"}, {"Ref": "AWS::NoValue"}]}
    check(env.get("CHATKIT_ATTACHMENTS_BUCKET") == expected, "CHATKIT_ATTACHMENTS_BUCKET must be the bucket when AttachmentsOn")


# What thread cleanup (shared/cleanup, shared/dynamodb purge) calls, the stream reads of its
# event source mapping, and the dead-letter queue: nothing else.
CLEANUP_ACTIONS = {
    "dynamodb:Query",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
    "sqs:SendMessage",
}


def main(path):
    doc = yaml.load(open(path), Loader=CfnLoader)
    errors = []

    def check(cond, msg):
        if not cond:
            errors.append(msg)

    fn = doc["Resources"]["ChatKitFunction"]
    props = fn["Properties"]
    url = props.get("FunctionUrlConfig", {})
    check(url.get("InvokeMode") == "RESPONSE_STREAM", "FunctionUrlConfig.InvokeMode must be RESPONSE_STREAM (SSE needs streaming)")
    check(url.get("AuthType") == "NONE", "FunctionUrlConfig.AuthType must be NONE (the function verifies JWTs itself)")
    check("Cors" in url, "FunctionUrlConfig.Cors must be set")
    check(fn.get("Metadata", {}).get("BuildMethod") == "rust-cargolambda", "Metadata.BuildMethod must be rust-cargolambda")
    glob = doc.get("Globals", {}).get("Function", {})
    merged = {**glob, **props}
    check(merged.get("Runtime") == "provided.al2023", "Runtime must be provided.al2023")
    check(merged.get("Architectures") == ["arm64"], "Architectures must be [arm64]")
    check(128 <= int(merged.get("MemorySize", 0)) <= 256, "MemorySize must be 128-256 MB")
    check(int(merged.get("Timeout", 0)) >= 60, "Timeout must leave room for a streamed reply (>= 60 s)")
    env = props.get("Environment", {}).get("Variables", {})
    check("CHATKIT_DEV_AUTH" not in env, "CHATKIT_DEV_AUTH must never be set by the template")
    check("CHATKIT_CREATE_TABLE" not in env, "CHATKIT_CREATE_TABLE is for local development only")
    check("OPENAI_API_KEY" not in env, "the API key belongs in Secrets Manager, not in the environment")

    actions, resources = set(), []
    policies = []
    for policy in props.get("Policies", []):
        # a conditional policy (`!If [cond, policy, AWS::NoValue]`): check its policy branch
        branches = policy["If"][1:] if isinstance(policy, dict) and "If" in policy else [policy]
        policies.extend(b for b in branches if isinstance(b, dict) and "Statement" in b)
    for policy in policies:
        for stmt in policy.get("Statement", []):
            acts = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            check(all("*" not in a for a in acts), f"wildcard action in {stmt.get('Sid')}")
            actions.update(acts)
            resources.append(stmt.get("Resource"))
    dynamo = {a for a in actions if a.startswith("dynamodb:")}
    check(dynamo == STORE_ACTIONS, f"DynamoDB actions must be exactly {sorted(STORE_ACTIONS)}, got {sorted(dynamo)}")
    s3 = {a for a in actions if a.startswith("s3:")}
    check(actions - dynamo - s3 == {"secretsmanager:GetSecretValue"}, f"unexpected actions: {sorted(actions - dynamo - s3)}")
    # the one wildcard allowed: the attachment objects' ARN (every key is under attachments/)
    check("*" not in str(resources).replace("/index/", "").replace(ATTACHMENT_OBJECTS, ""), "IAM resources must not be wildcards")
    check_attachments(doc, policies, s3, check)

    table = doc["Resources"]["ChatTable"]["Properties"]
    check(table.get("BillingMode") == "PAY_PER_REQUEST", "table must be on-demand")
    check(table.get("TimeToLiveSpecification", {}).get("AttributeName") == "expires_at", "TTL attribute must be expires_at")
    check(table.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is True, "PITR must be on")
    check("ChatKitUrl" in doc.get("Outputs", {}), "the Function URL must be an output")

    # issue 10: deletes finish in CleanupFunction, fed the table's stream, with retries, a
    # dead-letter queue and least-privilege IAM of its own
    check(table.get("StreamSpecification", {}).get("StreamViewType") == "NEW_IMAGE", "the table needs a NEW_IMAGE stream (thread cleanup)")
    res = doc["Resources"]
    cleanup = res.get("CleanupFunction", {})
    check(cleanup.get("Type") == "AWS::Serverless::Function", "CleanupFunction must be a function")
    check(cleanup.get("Metadata", {}).get("BuildProperties", {}).get("Binary") == "cleanup", "CleanupFunction builds the cleanup binary")
    check(cleanup.get("Metadata", {}).get("BuildMethod") == "rust-cargolambda", "CleanupFunction: BuildMethod rust-cargolambda")
    cprops = cleanup.get("Properties", {})
    check("Events" not in cprops, "CleanupFunction's stream mapping is an explicit EventSourceMapping (SAM's DynamoDB event adds a wildcard policy)")
    cactions, cresources = set(), []
    cpolicies = []
    for policy in cprops.get("Policies", []):
        # the attachments policy is conditional (`!If [AttachmentsOn, policy, AWS::NoValue]`)
        branches = policy["If"][1:] if isinstance(policy, dict) and "If" in policy else [policy]
        cpolicies.extend(b for b in branches if not (isinstance(b, dict) and b == {"Ref": "AWS::NoValue"}))
    for policy in cpolicies:
        for stmt in policy.get("Statement", []) if isinstance(policy, dict) else [True]:
            if stmt is True:
                errors.append("CleanupFunction may only have inline policies (no managed or SAM policy templates)")
                continue
            acts = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
            check(all("*" not in a for a in acts), f"wildcard action in {stmt.get('Sid')}")
            cactions.update(acts)
            cresources.append(stmt.get("Resource"))
    cs3 = {a for a in cactions if a.startswith("s3:")}
    check(cactions - cs3 == CLEANUP_ACTIONS, f"CleanupFunction actions must be exactly {sorted(CLEANUP_ACTIONS)}, got {sorted(cactions - cs3)}")
    # issue 8: cleanup deletes a deleted thread's attachment objects, and may do nothing else in S3
    check(cs3 == {"s3:DeleteObject"}, f"CleanupFunction's only S3 action is s3:DeleteObject, got {sorted(cs3)}")
    check("*" not in str(cresources).replace("/stream/*", "").replace(ATTACHMENT_OBJECTS, ""), "CleanupFunction IAM resources must not be wildcards")
    cenv = cprops.get("Environment", {}).get("Variables", {})
    check(cenv.get("CHATKIT_ATTACHMENTS_BUCKET") == {"If": ["AttachmentsOn", {"Ref": "AttachmentsBucket"}, {"Ref": "AWS::NoValue"}]},
          "CleanupFunction needs CHATKIT_ATTACHMENTS_BUCKET when AttachmentsOn (to delete attachment bytes)")
    esms = [r["Properties"] for r in res.values() if r.get("Type") == "AWS::Lambda::EventSourceMapping"]
    esm = next((p for p in esms if p.get("FunctionName") == {"Ref": "CleanupFunction"}), {})
    check(esm.get("EventSourceArn") == {"GetAtt": "ChatTable.StreamArn"}, "an EventSourceMapping must feed the table's stream to CleanupFunction")
    check("ReportBatchItemFailures" in esm.get("FunctionResponseTypes", []), "the cleanup mapping reports batch item failures")
    check(esm.get("BisectBatchOnFunctionError") is True, "the cleanup mapping bisects failing batches")
    check(0 < int(esm.get("MaximumRetryAttempts", -1)) <= 100, "the cleanup mapping retries a bounded number of times")
    dlq = esm.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination", {})
    dlq_name = dlq.get("GetAtt", "").split(".")[0] if isinstance(dlq, dict) else ""
    check(res.get(dlq_name, {}).get("Type") == "AWS::SQS::Queue", "the cleanup mapping sends failed records to an SQS dead-letter queue")
    check(res.get(dlq_name, {}).get("Properties", {}).get("SqsManagedSseEnabled") is True, "the dead-letter queue is encrypted")
    pattern = str(esm.get("FilterCriteria", {}))
    check("deleted_at" in pattern and "#THREAD" in pattern, "the cleanup mapping only passes tombstoned thread heads")

    # issue 11: a JWKS without iss/aud accepts any token of the identity provider's tenant
    rule = doc.get("Rules", {}).get("JwksNeedsIssuerAndAudience", {})
    asserted = str(rule.get("Assertions", []))
    check("JwtIssuer" in asserted and "JwtAudience" in asserted, "Rules.JwksNeedsIssuerAndAudience must require JwtIssuer and JwtAudience")
    params = doc.get("Parameters", {})
    for name in ("JwksUrl", "RetrievalUrl", "OpenAIBaseUrl"):
        check("https://" in params.get(name, {}).get("AllowedPattern", ""), f"{name} must only allow https:// URLs")

    # issue 11: abuse limits are set by the template, and reserved concurrency can be
    check(all(k in env for k in ("CHATKIT_TURNS_PER_MINUTE", "CHATKIT_TOKENS_PER_DAY", "CHATKIT_MAX_OUTPUT_TOKENS")),
          "the per-user limits (CHATKIT_TURNS_PER_MINUTE, CHATKIT_TOKENS_PER_DAY, CHATKIT_MAX_OUTPUT_TOKENS) must be set")
    check("ReservedConcurrentExecutions" in props and "ReservedConcurrency" in params,
          "the function's ReservedConcurrentExecutions must come from the ReservedConcurrency parameter")

    for e in errors:
        print(f"template check: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"template check: {path} ok (streaming Function URL, least-privilege IAM, no dev settings, private attachments bucket)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
