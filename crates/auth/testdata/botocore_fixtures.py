"""Print SigV4 fixtures signed by botocore for the berth-auth unit tests.

Run with `python3 botocore_fixtures.py` and paste the output into
`src/sigv4/tests.rs`. The signing time is pinned so the output is stable.
"""

import datetime

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SIGNING_TIME = datetime.datetime(2025, 1, 15, 10, 30, 0)
KEY_ID = "BKIAFIXTURE000000001"
SECRET = "fixtureSecretKey0123456789abcdefghijklmn"
SESSION_TOKEN = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN/berth+fixture=="
BLOB_URL = (
    "http://127.0.0.1:5000/v2/team/app/blobs/"
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)
# The S3 signer leaves the path unencoded, so its fixture uses a path with
# nothing to encode: both encodings agree on it.
TAGS_URL = "http://127.0.0.1:5000/v2/team/app/tags/list?n=10&last=v1.0"

botocore.auth.get_current_datetime = lambda: SIGNING_TIME


def signed_post(token=None, extra_headers=None):
    headers = {
        "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeRepositories",
        "Content-Type": "application/x-amz-json-1.1",
    }
    headers.update(extra_headers or {})
    request = AWSRequest(method="POST", url="http://127.0.0.1:5000/", data=b"{}", headers=headers)
    credentials = Credentials(KEY_ID, SECRET, token)
    botocore.auth.SigV4Auth(credentials, "ecr", "us-east-1").add_auth(request)
    return request


def presigned_get(auth_class, url):
    request = AWSRequest(method="GET", url=url)
    auth_class(Credentials(KEY_ID, SECRET), "ecr", "eu-west-1", expires=900).add_auth(request)
    return request


for name, request in [
    ("header", signed_post()),
    ("session token", signed_post(SESSION_TOKEN)),
    ("unsigned payload", signed_post(extra_headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})),
]:
    print(f"== {name}")
    for header, value in request.headers.items():
        print(f"{header}: {value}")

for name, auth_class, url in [
    ("SigV4QueryAuth", botocore.auth.SigV4QueryAuth, BLOB_URL),
    ("S3SigV4QueryAuth", botocore.auth.S3SigV4QueryAuth, TAGS_URL),
]:
    print(f"== {name}")
    print(presigned_get(auth_class, url).url)
