"""What each credential type writes, value by value: the checks that accept or refuse
a Vault value, and the exact data, keys and type of the Secret. Table-driven.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml

from syncer import secretdata
from syncer.errors import ValueRejected
from syncer.loader import parse
from syncer.secretvalue import BinaryValue, SecretValue

KEYTAB = bytes([0x05, 0x02, 0x00, 0x01])
KEYTAB_B64 = base64.b64encode(KEYTAB).decode()  # "BQIAAQ=="


def check(kind: str, logical: str, value: str) -> SecretValue:
    return secretdata.checked(kind, logical, SecretValue(value), "vault.keys.x")


ACCEPTED: list[tuple[str, str, str]] = [
    ("https", "headers", '{"X-Key": "XYZ"}'),  # any letter in a value
    ("https", "headers", '{"Authorization": "Bearer a b"}'),
    ("hdfs", "headers", '{"X-Key": "v"}'),
    ("oci", "dockerConfigJson", '{"auths": {"r.example.com": {"auth": "dTpw"}}}'),
    ("oci", "dockerConfigJson",
     '{"auths": {"r.example.com": {"username": "u", "password": "p"}}}'),
    ("oci", "username", "robot"),
    ("oci", "password", "pa:ss"),  # only the user may not hold the separator
    ("s3", "accessKeyId", "AKIA"),
    ("gcs", "credentials", '{"type": "service_account"}\n'),
]


@pytest.mark.parametrize(("kind", "logical", "value"), ACCEPTED)
def test_accepted_as_it_is(kind: str, logical: str, value: str) -> None:
    got = check(kind, logical, value)
    assert type(got) is SecretValue and got.reveal() == value


REFUSED: list[tuple[str, str, str]] = [
    ("https", "headers", "not json"),
    ("https", "headers", '{"X-Key": " padded"}'),
    ("https", "headers", '{"X-Key": "nul\\u0000"}'),
    ("https", "headers", '{"X-Key": "cr\\r"}'),
    ("hdfs", "headers", "[]"),
    ("gcs", "credentials", '"a string"'),
    ("oci", "dockerConfigJson", '{"auths": []}'),
    ("oci", "dockerConfigJson", '{"auths": {"r.example.com": "not an object"}}'),
    ("oci", "dockerConfigJson", '{"auths": {"": {"auth": "dTpw"}}}'),
    ("oci", "dockerConfigJson", '{"auths": {"r.example.com": {"username": "u"}}}'),
    ("oci", "dockerConfigJson", '{"auths": {"r.example.com": {"password": "p"}}}'),
    ("oci", "dockerConfigJson", '{"auths": {"r.example.com": {"auth": ""}}}'),
    ("oci", "dockerConfigJson", '{"auths": {"r.example.com": {"auth": 7}}}'),
    ("oci", "dockerConfigJson",
     '{"auths": {"r.example.com": {"username": "u", "password": 1}}}'),
    ("hdfs", "kerberosKeytab", KEYTAB_B64[:3] + "!" + KEYTAB_B64[3:]),  # a stray character
    ("hdfs", "kerberosKeytab", ""),
    ("hdfs", "tlsKey", "MIIB"),
    ("s3", "accessKeyId", "AKIA\n"),
]


@pytest.mark.parametrize(("kind", "logical", "value"), REFUSED)
def test_refused(kind: str, logical: str, value: str) -> None:
    with pytest.raises(ValueRejected):
        check(kind, logical, value)


def test_a_keytab_is_its_bytes() -> None:
    got = check("hdfs", "kerberosKeytab", KEYTAB_B64[:4] + "\n " + KEYTAB_B64[4:])
    assert isinstance(got, BinaryValue) and got == BinaryValue(KEYTAB)


def credential(kind: str, keys: dict[str, str], **extra: Any) -> Any:
    doc = {"vault": {"address": "http://127.0.0.1:8200",
                     "auth": {"method": "token", "token": "t"}},
           "credentials": [{"name": "c", "type": kind, "vault": {"path": "p", "keys": keys},
                            "targets": [{"namespaces": ["a"], "secret": "s"}], **extra}]}
    config = parse(yaml.safe_dump(doc), environ={})
    return config, config.credentials[0]


def docker_config(registry: str, user: str, password: str) -> dict[str, Any]:
    """What the kubelet reads: "auth" (base64 of user:password) wins over the plain two."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"auths": {registry: {"auth": auth, "password": password, "username": user}}}


Data = dict[str, str | dict[str, Any]]  # a dict: JSON we build, compared parsed
# (type, vault.keys, type block, checked values) -> (Secret type, data)
DATA: list[tuple[str, dict[str, str], dict[str, Any], dict[str, str], str, Data]] = [
    ("s3", {"accessKeyId": "a", "secretAccessKey": "b"}, {}, {"accessKeyId": "AK",
                                                              "secretAccessKey": "SK"},
     "Opaque", {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}),
    ("hf", {"token": "t"}, {}, {"token": "tok"}, "Opaque", {"HF_TOKEN": "tok"}),
    ("https", {"token": "t"}, {"https": {"host": "m.example.com"}}, {"token": "tok"},
     "Opaque", {"https-host": "m.example.com",
                "headers": {"Authorization": "Bearer tok"}}),
    ("https", {"token": "t"}, {"https": {"host": "m.example.com", "tokenHeader": "X-Key",
                                         "tokenScheme": ""}}, {"token": "tok"},
     "Opaque", {"https-host": "m.example.com", "headers": {"X-Key": "tok"}}),
    ("https", {"headers": "h"}, {"https": {"host": "m.example.com"}},
     {"headers": '{"A": "1"}'}, "Opaque", {"https-host": "m.example.com",
                                           "headers": '{"A": "1"}'}),
    ("hdfs", {"tlsCert": "c", "tlsKey": "k"},
     {"hdfs": {"namenode": "http://nn:9870", "userProxy": "svc", "tlsSkipVerify": False}},
     {"tlsCert": "CERT", "tlsKey": "KEY"}, "Opaque",
     {"HDFS_NAMENODE": "http://nn:9870", "USER_PROXY": "svc", "TLS_SKIP_VERIFY": "false",
      "TLS_CERT": "CERT", "TLS_KEY": "KEY"}),
    ("hdfs", {"tlsCa": "ca"},
     {"hdfs": {"namenode": "http://nn:9870", "rootPath": "/m", "nThreads": 8}},
     {"tlsCa": "PEM"}, "Opaque",
     {"HDFS_NAMENODE": "http://nn:9870", "HDFS_ROOTPATH": "/m", "N_THREADS": "8",
      "TLS_CA": "PEM"}),
    ("oci", {"username": "u", "password": "p"}, {"oci": {"registry": "r.example.com:5000"}},
     {"username": "robot", "password": "pw"}, "kubernetes.io/dockerconfigjson",
     {".dockerconfigjson": docker_config("r.example.com:5000", "robot", "pw")}),
    ("oci", {"dockerConfigJson": "c"}, {}, {"dockerConfigJson": '{"auths":  {}}'},
     "kubernetes.io/dockerconfigjson", {".dockerconfigjson": '{"auths":  {}}'}),
]


@pytest.mark.parametrize(("kind", "keys", "extra", "values", "type_", "data"), DATA)
def test_secret_data(kind: str, keys: dict[str, str], extra: dict[str, Any],
                     values: dict[str, str], type_: str, data: Data) -> None:
    config, cred = credential(kind, keys, **extra)
    got = secretdata.secret_data(config, cred, {k: SecretValue(v) for k, v in values.items()})
    assert {k: json.loads(v.reveal()) if isinstance(data.get(k), dict) else v.reveal()
            for k, v in got.items()} == data
    assert secretdata.secret_type(cred) == type_
    # A failed entry holds exactly the keys it would write.
    assert secretdata.data_keys(config, cred) == set(data)
