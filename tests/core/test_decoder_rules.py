"""Decoder rules persist with a profile and come back in order; a bad stored rule is a clear profile error."""

from __future__ import annotations

import json

import pytest

from eventscope.core.decoding.rules import DecoderRule
from eventscope.core.profile import ConnectionProfile
from eventscope.core.profiles.store import ProfileError, ProfileStore, StoredProfile


def test_decoder_rules_and_proto_paths_persist_per_profile(tmp_path):
    rules = (DecoderRule.parse("factory/+/telemetry=protobuf:acme.Telemetry"), DecoderRule.parse("spBv1.0/#=sparkplug"))
    store = ProfileStore.load(tmp_path / "profiles.json")
    store.put(StoredProfile(ConnectionProfile(name="plant"), decoder_rules=rules, proto_paths=("/srv/protos",)))
    store.put(StoredProfile(ConnectionProfile(name="office")))
    store.save()
    reopened = ProfileStore.load(tmp_path / "profiles.json")
    assert reopened.get("plant").decoder_rules == rules and reopened.get("plant").proto_paths == ("/srv/protos",)
    assert reopened.get("office").decoder_rules == ()
    assert rules[0].describe() == "factory/+/telemetry → protobuf acme.Telemetry"


def test_a_profile_from_before_decoder_rules_still_loads_and_a_bad_rule_says_which_profile():
    old = {"connection": {"name": "legacy"}, "region": "", "audit_filters": ["#"], "colour": ""}
    assert StoredProfile.from_dict(old).decoder_rules == ()
    bad = json.loads(json.dumps(old))
    bad["decoder_rules"] = [{"filter": "a/#", "decoder": "protobuf"}]
    with pytest.raises(ProfileError, match="profile 'legacy': a protobuf rule names its message type"):
        StoredProfile.from_dict(bad)


def test_sub_text_lines_show_the_decoded_value_with_its_note_or_error_and_no_raw_controls():
    from eventscope.core.cli.decode_args import decoded_one_line
    from eventscope.core.decoding.rules import DecoderRules
    from eventscope.core.records import MessageRecord
    from eventscope.core.sparkplug.payload import MetricValue, encode_payload

    rules = DecoderRules()
    data = rules.observe(MessageRecord("spBv1.0/g/NDATA/n", encode_payload([MetricValue(1.5, alias=2)], seq=9)))
    assert decoded_one_line(data) == ('{"seq": 9, "metrics": [{"alias": 2, "datatype": "Double", "value": 1.5, '
                                      '"name": "alias 2 (no BIRTH yet)"}]}  '
                                      '(alias 2: no BIRTH seen since connect)')
    broken = rules.observe(MessageRecord("spBv1.0/g/NDATA/n", "up\x7f\x85".encode()))
    line = decoded_one_line(broken)
    assert "(Not a Sparkplug B payload (5 B): field 14 is not in the Sparkplug B schema" in line
    assert not any(ch in line for ch in "\x7f\x85\n")  # the raw bytes, but never a control character
