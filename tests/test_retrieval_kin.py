"""Relatives by kinship: "his mother" for the one person the world ties to a named character."""

from retrieval.entry import Entry
from retrieval.kin import KinIndex, asked_kin, kin_hits
from retrieval.triggers import KeywordHit, TriggerIndex


def person(entry_id: str, name: str, body: str, **fields) -> Entry:
    return Entry(id=entry_id, name=name, type="character", body=body, **fields)


JORY = person("c/jory", "Jory Finch", "Jory Finch is a page, the son of the laundress Mara "
              "Finch. He worships Bram Kettle.")
MARA = person("c/mara", "Mara Finch", "Mara Finch washes the linen. Her son Jory is a page.")
ABEL = person("c/abel", "Abel Finch", "Abel Finch was Jory's father. He drowned in the Narrows "
              "and his boat was lost.")
BRAM = person("c/bram", "Bram Kettle", "Bram Kettle guards the king.")
LUCAN = person("c/lucan", "Lucan Harrow", "Lucan is Cassian's elder brother. He brings what "
               "he finds to Sister Frost.")
CASSIAN = person("c/cassian", "Cassian Harrow", "Cassian pours the wine.", until_chapter=9)
CASSIAN_LATER = person("c/cassian-2", "Cassian Harrow", "Cassian is a prisoner.",
                       from_chapter=10)
AGNES = person("c/agnes", "Agnes Frost", "The infirmarian.", aliases=("Sister Frost",))
GRACE = person("c/grace", "Grace Ashdown", "She cannot believe Lucan's father a thief.")
ENTRIES = {e.id: e for e in (JORY, MARA, ABEL, BRAM, LUCAN, CASSIAN, CASSIAN_LATER, AGNES, GRACE)}
KIN = KinIndex(ENTRIES, TriggerIndex(ENTRIES.values()))


def test_the_kinship_asked_for():
    assert asked_kin("Jory runs to tell his mother; her late husband's boat") == {
        "mother", "husband"}
    assert asked_kin("the mother of pearl") == set()


def test_the_person_the_named_character_is_tied_to_by_that_kinship():
    assert KIN.relatives("He tells his mother.", ["c/jory"], None) == ["c/mara"]
    assert KIN.relatives("She tells her son.", ["c/mara"], None) == ["c/jory"]
    assert KIN.relatives("He tells his brother.", ["c/jory"], None) == []  # no brother
    assert KIN.relatives("Bram tells his mother.", ["c/bram"], None) == []
    # "Sister Frost" is a title, not a sister; the chapter picks Cassian's entry
    assert KIN.relatives("He visits his brother.", ["c/lucan"], 11) == ["c/cassian-2"]
    assert KIN.relatives("He visits his brother.", ["c/lucan"], 3) == ["c/cassian"]
    # "Lucan's father" in Grace's entry is not Grace: nobody
    assert KIN.relatives("He asks his father.", ["c/lucan"], None) == []
    # "his father" is not the mother Jory's entry names; Abel's own entry says he is
    assert KIN.relatives("He asks his father.", ["c/jory"], None) == ["c/abel"]
    assert KIN.relatives("She asks her husband.", ["c/mara"], None) == []


def test_kin_hits_come_after_the_named_and_skip_those_already_in():
    hits = kin_hits(KIN, "Jory tells his mother.", [KeywordHit("c/jory", "alias", 1, 0)], None)
    assert [(h.entry_id, h.kind) for h in hits] == [("c/mara", "alias")]
    named = [KeywordHit("c/jory", "alias", 1, 0), KeywordHit("c/mara", "name", 1, 0)]
    assert kin_hits(KIN, "Jory tells his mother.", named, None) == []
