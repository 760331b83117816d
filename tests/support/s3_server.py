"""An S3 endpoint for tests: moto's server on a free loopback port, checking every request's
SigV4 signature against an IAM user's key, as AWS does.

moto checks signatures only after its first INITIAL_NO_AUTH_ACTION_COUNT actions: the three
unchecked ones create the user, its key and its policy; from then on every call, the test's own
uploads included, must be signed with that key.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from tests.support.daemon import ForegroundServer

REGION = "eu-west-1"
_SETUP_ACTIONS = 3
_POLICY = {"Version": "2012-10-17",
           "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


class S3Server(ForegroundServer):
    name = "moto-s3"

    def __init__(self) -> None:
        super().__init__("imgorigin-s3-")
        self.access_key = ""
        self.secret_key = ""

    def start(self) -> S3Server:
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(_SETUP_ACTIONS)}
        self.spawn([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                   timeout=60, env=env)
        iam = self._client("iam", "setup", "setup")
        iam.create_user(UserName="imgorigin")
        key = iam.create_access_key(UserName="imgorigin")["AccessKey"]
        iam.put_user_policy(UserName="imgorigin", PolicyName="s3",
                            PolicyDocument=json.dumps(_POLICY))
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]
        return self

    def _client(self, service: str, access_key: str, secret_key: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.base, region_name=REGION,
                            aws_access_key_id=access_key, aws_secret_access_key=secret_key)

    def s3(self) -> Any:
        """A boto3 S3 client signing with the test user's key."""
        return self._client("s3", self.access_key, self.secret_key)

    def origin_env(self, source: str, *, secret_key: str | None = None) -> dict[str, str]:
        """Settings for an origin reading `source` (s3://...) from here with the user's key
        (or `secret_key`), and nothing of the AWS chain of whoever runs the tests."""
        return {
            "IMGORIGIN_SOURCE": source,
            "IMGORIGIN_S3_ENDPOINT": self.base,
            "IMGORIGIN_S3_REGION": REGION,
            **isolated_aws_env(),
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key if secret_key is None else secret_key,
        }


def isolated_aws_env() -> dict[str, str]:
    """An AWS credential chain that finds nothing: no keys, files, metadata service or
    container credentials. Empty keys count as unset for botocore; the container and web-identity
    providers look only at whether their variables exist, and OriginProcess passes on no AWS_*
    variable of the runner's."""
    return {
        "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
        "AWS_CONFIG_FILE": "/nonexistent/config", "AWS_EC2_METADATA_DISABLED": "true",
    }
