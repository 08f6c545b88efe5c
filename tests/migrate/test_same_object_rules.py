"""The pure rules behind "the same object": key encoding, metadata mapping, what a pair carries, and what a
report may call verified. The servers' side of each is in the conformance suite and test_same_object.py."""

from __future__ import annotations

import random

from opcloud.migrate.buckets.report import CopyReport
from opcloud.migrate.buckets.sameobject import PROPERTIES, Features, carried
from opcloud.migrate.stores.keys import KeyCodec, KeyRules
from opcloud.migrate.stores.metakeys import AZURE_KEYS, MAPPED_KEY, S3_KEYS

from tests.migrate.test_store_conformance import TRICKY_KEYS, TRICKY_METADATA

_ALPHABET = "aZ_-.\\ /\u00e9\u0301\uff3c\uff0e\u2420\u201b\x01\x7f0"


def test_key_encoding_is_reversible_and_never_folds_two_keys_onto_one() -> None:
    codec, rng = KeyCodec(), random.Random(13)
    keys = set(TRICKY_KEYS) | {"".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(1, 9))) for _ in range(5000)}
    encoded = {codec.encode(key) for key in keys}
    assert len(encoded) == len(keys)
    assert all(codec.decode(codec.encode(key)) == key for key in keys)
    for name in encoded:  # nothing Azure changes survives encoding
        assert "\\" not in name and not any(s.endswith((".", " ")) for s in name.split("/"))


def test_metadata_mapping_is_reversible_for_every_input_on_s3_and_azure() -> None:
    rng = random.Random(7)
    alphabet = "aA_-0 .\u00e9opcx"
    for mapping in (S3_KEYS, AZURE_KEYS):
        for _ in range(2000):
            metadata = {"".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 8))): "v" for _ in range(4)}
            metadata |= TRICKY_METADATA | {"opcx_" + k: "looks mapped" for k in list(metadata)[:2]}
            stored = mapping.to_stored(metadata)
            assert all(mapping.plain.fullmatch(name) for name in stored)  # every stored name is one it holds
            assert mapping.from_stored(stored) == metadata
        # Names somebody else wrote that only look like ours are read as they are.
        assert mapping.from_stored({"opcx_note": "a", "opcx_bad_zz": "b"}) == {"opcx_note": "a", "opcx_bad_zz": "b"}
        assert MAPPED_KEY not in mapping.from_stored(mapping.to_stored({"Owner": "x"}))


def test_a_pair_whose_target_cannot_hold_metadata_is_verified_only_in_part() -> None:
    full = Features(holds=frozenset(PROPERTIES), keys=KeyRules(), listing_sees_metadata_changes=True)
    bare = Features(holds=frozenset({"content-type"}), keys=KeyRules(), listing_sees_metadata_changes=True)
    pair = carried(full, bare)
    assert pair.carried == ("content-type",) and "metadata" in pair.not_carried and not pair.complete
    report = CopyReport("a", "b", verified_read_back=3, carried=list(pair.carried), not_carried=list(pair.not_carried))
    assert (report.verified, report.verified_partially, report.ok) == (0, 3, False)
    # Content-MD5 alone is implied by the bytes (SHA-256), which are always checked.
    md5_only = carried(
        full,
        Features(holds=frozenset(PROPERTIES) - {"content-md5"}, keys=KeyRules(), listing_sees_metadata_changes=True),
    )
    assert md5_only.not_carried == ("content-md5",) and md5_only.complete
