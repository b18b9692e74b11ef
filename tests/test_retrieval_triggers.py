"""Keyword triggers: word boundaries, possessives, plurals and common-word names."""

from retrieval.entry import Entry
from retrieval.triggers import TriggerIndex, entry_triggers, is_common_phrase, stem


def make(entry_id: str, name: str, aliases=(), keys=(), case_sensitive=None) -> Entry:
    return Entry(id=entry_id, name=name, type="other", body="x", aliases=tuple(aliases),
                 keys=tuple(keys), case_sensitive=case_sensitive)


ELENA = make("characters/elena", "Elena Vasquez", aliases=["Elena", "the Chief"],
             keys=["chief engineer"])
ARCTURIANS = make("factions/arcturians", "Arcturian", aliases=["Karanthan"])
PATIENCE = make("characters/patience", "Patience", case_sensitive=True)
NARROWS = make("places/narrows", "The Narrows")  # ordinary words: capitals required (auto)
HOPE = make("places/hope", "Hope")  # ordinary word, no flag: capitals required (auto)
MERIDIAN = make("places/meridian", "Meridian", aliases=["the ship"])
HOPE_LOOSE = make("places/hope-loose", "Hope Loose", aliases=["Hope"], case_sensitive=False)

INDEX = TriggerIndex([ELENA, ARCTURIANS, PATIENCE, NARROWS, HOPE, MERIDIAN])


def ids(texts) -> list[str]:
    return [hit.entry_id for hit in INDEX.find(texts if isinstance(texts, list) else [texts])]


def test_possessives_and_plurals_fire():
    assert ids("Elena's hands shook.") == ["characters/elena"]
    assert ids("ELENA’S hands shook.") == ["characters/elena"]  # curly apostrophe, any case
    assert ids("The Arcturians watched.") == ["factions/arcturians"]
    assert ids("the Arcturians' light") == ["factions/arcturians"]
    assert ids("Vasquez.") == []  # not a trigger on its own
    assert ids("Elena Vasquez's arm") == ["characters/elena"]


def test_whole_words_only():
    assert ids("Elenathon and Meridians-of-old") == ["places/meridian"]  # plural of Meridian
    assert ids("a meridiano line") == []
    assert ids("mischief engineering") == []


def test_case_sensitive_names_need_capitals():
    assert ids("Have patience, the river narrows here.") == []
    assert ids("Patience counted the crew.") == ["characters/patience"]
    assert ids("She asked Patience twice.") == ["characters/patience"]
    assert ids("they crossed the Narrows") == ["places/narrows"]  # article may be lowercase
    assert ids("The Narrows opened ahead.") == ["places/narrows"]
    assert ids("the path narrows") == []


def test_common_words_are_detected_automatically():
    assert is_common_phrase("Patience") and is_common_phrase("the Narrows")
    assert is_common_phrase("Hope")
    assert not is_common_phrase("Elena Vasquez")
    assert ids("I hope so.") == []
    assert ids("Hope station answered.") == ["places/hope"]
    loose = TriggerIndex([HOPE_LOOSE])
    assert [h.entry_id for h in loose.find(["I hope so."])] == ["places/hope-loose"]


def test_lowercase_triggers_stay_case_insensitive():
    assert ids("The Ship shuddered.") == ["places/meridian"]
    assert ids("the chief engineer checked") == ["characters/elena"]


def test_accents_fold():
    index = TriggerIndex([make("places/valparaiso", "Valparaíso")])
    assert [h.entry_id for h in index.find(["born in Valparaiso"])] == ["places/valparaiso"]


def test_strongest_kind_and_recency_rank_hits():
    hits = INDEX.find(["Meridian docked.", "the chief engineer and the Arcturians"])
    assert [(h.entry_id, h.kind, h.age) for h in hits] == [
        ("factions/arcturians", "name", 0),
        ("places/meridian", "name", 1),
        ("characters/elena", "key", 0),
    ]
    counted = INDEX.find(["Elena, Elena!", "Elena Vasquez"])
    assert counted[0].kind == "name" and counted[0].count == 3


def test_repeated_phrase_keeps_strongest_kind():
    entry = make("a", "Osk", aliases=["Osk"], keys=["osk", "little Osk"])
    kinds = {t.phrase: t.kind for t in entry_triggers(entry)}
    assert kinds == {"Osk": "name", "little Osk": "key"}


def test_stem():
    assert stem("Elena's") == "Elena"
    assert stem("colonies") == "colony"
    assert stem("boxes") == "box"
    assert stem("glass") == "glass" and stem("Marcus") == "Marcus"


def test_ordinary_use_of_a_common_word_name_is_flagged():
    assert INDEX.ordinary_uses("Have patience, the narrows are ahead.") == {
        "characters/patience", "places/narrows"}
    assert INDEX.ordinary_uses("Patience said: have patience.") == frozenset()
    assert INDEX.ordinary_uses("Elena waited.") == frozenset()


def test_a_leading_article_is_flexible_in_case_and_the_rest_is_not():
    sensitive = make("places/narrows", "The Narrows", aliases=["the Narrows"],
                     case_sensitive=True)
    index = TriggerIndex([sensitive])
    for text in ("they crossed the Narrows", "The Narrows opened ahead.", "THE Narrows"):
        assert [h.entry_id for h in index.find([text])] == ["places/narrows"], text
    assert index.find(["the river narrows"]) == []
    for text in ("the narrows", "The narrows"):  # a title in lowercase: loose, a topic
        assert [(h.kind, h.loose, h.lowered) for h in index.find([text])] == [
            ("key", True, True)], text


def test_the_last_word_of_a_sensitive_phrase_keeps_its_capitals_even_if_small():
    plan = make("events/plan-a", "Plan A", case_sensitive=True)
    station = make("places/an", "AN", case_sensitive=True)  # a station called by its initials
    index = TriggerIndex([plan, station])
    assert [h.entry_id for h in index.find(["Plan a route around the storm."])] == []
    assert [h.entry_id for h in index.find(["an answer came"])] == []
    assert [h.entry_id for h in index.find(["They fell back on Plan A."])] == ["events/plan-a"]
    assert [h.entry_id for h in index.find(["AN answered."])] == ["places/an"]


def test_small_words_leading_into_the_next_word_are_flexible():
    order = TriggerIndex([make("factions/order", "Order Of The Flame", case_sensitive=True)])
    assert [h.entry_id for h in order.find(["she joined the Order of the Flame"])] == [
        "factions/order"]
    assert order.find(["the order of the flame"]) == []


def test_an_ordinary_word_name_opening_a_sentence_is_weak_evidence():
    def weak(text: str) -> dict[str, bool]:
        return {h.entry_id: h.weak for h in INDEX.find([text])}

    assert weak("Patience counted the crew.") == {"characters/patience": True}
    assert weak('She stopped. "Patience," Elena said.')["characters/patience"] is True
    assert weak("She asked Patience twice.") == {"characters/patience": False}
    assert weak("Tomas flies while Patience counts.") == {"characters/patience": False}
    assert weak('"Four," Patience said.') == {"characters/patience": False}  # closing quote
    assert weak("Elena waited.\nPatience spoke.")["characters/patience"] is True
    assert weak("Elena Vasquez waited.") == {"characters/elena": False}  # not ordinary words


def test_first_names_and_surnames_of_characters_fire_and_shared_ones_resolve():
    def person(entry_id: str, name: str, **fields) -> Entry:
        return Entry(id=entry_id, name=name, type="character", body="x", **fields)

    harker, ashby = person("c/harker", "Tom Harker"), person("c/ashby", "Tom Ashby")
    mira = person("c/mira", "Dr. Mira van Castell")
    cellars = Entry(id="p/cellars", name="Castell Cellars", type="place", body="x")
    index = TriggerIndex([harker, ashby, mira, cellars])

    def found(*texts: str) -> list[str]:
        return sorted(h.entry_id for h in index.find(list(texts)))

    assert found("Mira rows out.") == ["c/mira"]
    assert found("Castell rows out.") == ["c/mira"]
    assert found("the castell rows out") == []  # a name part must be capitalised
    assert found("Tom rows out.") == []  # two Toms and no clue: nobody
    assert found("Tom Harker came in.", "Tom sat down.") == ["c/harker"]
    assert found("Tom Ashby came in.", "Tom Harker too.", "Tom sat down.") == [
        "c/ashby", "c/harker"]
    assert found("They met at Castell Cellars.") == ["p/cellars"]  # the part is the place's
    assert found("Van came.") == []  # particles and titles are not parts
    off = TriggerIndex([person("c/m", "Mira Castell", derive_names=False)])
    assert off.find(["Mira rows out."]) == []


def test_secondary_keys_and_scan_depth_narrow_a_trigger():
    tom = Entry(id="c/tom", name="Tom Harker", type="other", body="x", aliases=("Tom",),
                secondary_keys=("harbour",), secondary_logic="and_any")
    never = Entry(id="c/x", name="Xan", type="other", body="x", secondary_keys=("storm",),
                  secondary_logic="not_any", scan_depth=1)
    index = TriggerIndex([tom, never])
    assert [h.entry_id for h in index.find(["Tom waited."])] == []
    assert [h.entry_id for h in index.find(["Tom waited by the harbour."])] == ["c/tom"]
    assert [h.entry_id for h in index.find(["Xan sailed."])] == ["c/x"]
    assert [h.entry_id for h in index.find(["Xan sailed into the storm."])] == []
    assert [h.entry_id for h in index.find(["Xan sailed.", "Then rain."])] == []  # depth 1


def test_a_shared_name_with_no_clear_mention_goes_to_the_one_the_passage_is_about():
    tom_a = Entry(id="c/ashby", name="Tom Ashby", type="character", body="x")
    dan_a = Entry(id="c/dan", name="Daniel Ashby", type="character", body="x")
    index = TriggerIndex([tom_a, dan_a])
    assert index.find(["Ashby hauls the nets."]) == []
    hits = index.find(["Ashby hauls the nets."], vouched={"c/ashby"})
    assert [h.entry_id for h in hits] == ["c/ashby"] and "about" in hits[0].why
    assert index.find(["Ashby hauls the nets."], vouched={"c/ashby", "c/dan"}) == []


def test_a_capital_past_the_sentence_start_or_a_caseless_phrase_is_not_weak():
    rook = make("c/rook", "Mara Quell", aliases=["the Rook", "Your Grace", "the old king"])
    index = TriggerIndex([rook, HOPE])

    def weak(text: str) -> dict[str, bool]:
        return {h.entry_id: h.weak for h in index.find([text])}

    assert weak("The Rook sends word.") == {"c/rook": False}  # "Rook" is not the sentence's
    assert weak('"Your Grace is too kind," she said.') == {"c/rook": False}
    assert weak("The old king laughs.") == {"c/rook": False}  # fires however it is written
    assert weak("Hope was all she had.") == {"places/hope": True}
    assert [h.lowered for h in index.find(["The rook flew off."])] == [True]


def test_a_family_name_in_the_plural_is_nobody_and_an_unsettled_name_is_reported():
    def person(entry_id: str, name: str) -> Entry:
        return Entry(id=entry_id, name=name, type="character", body="x")

    index = TriggerIndex([person("c/oren", "Oren Marlowe"), person("c/hollis", "Hollis Marlowe"),
                          person("c/mq", "Mara Quell"), person("c/mf", "Mara Finch")])
    about_oren = [{"c/oren"}]
    assert [h.entry_id for h in index.find_all(["Marlowe smiled."], None, about_oren).hits] == [
        "c/oren"]
    assert index.find_all(["the Marlowes smiled."], None, about_oren).hits == []
    # the first clue that singles one person out decides, the surer first
    clues = [{"c/mq"}, {"c/mq", "c/mf"}]
    assert [h.entry_id for h in index.find_all(["Mara came in."], None, clues).hits] == ["c/mq"]
    clues = [{"c/mq", "c/mf"}, {"c/mf"}]
    assert [h.entry_id for h in index.find_all(["Mara came in."], None, clues).hits] == ["c/mf"]
    found = index.find_all(["Mara came in."])
    assert found.hits == [] and found.unresolved == {"c/mq", "c/mf"}
    assert index.find_all(["Mara Quell came in.", "Mara sat."]).unresolved == frozenset()


def test_a_name_used_as_the_ordinary_word_silences_every_entry_named_by_it():
    sparrow = make("c/sparrow", "Sparrow")
    birth = make("lore/birth", "Sparrow's Birth")
    index = TriggerIndex([sparrow, birth, ELENA])
    assert index.ordinary_uses("A sparrow lands on the sill.") == {"c/sparrow", "lore/birth"}
    assert index.ordinary_uses("Sparrow lands on the sill.") == frozenset()
    named, ordinary = index.spoken("Elena saw a sparrow.")
    assert named == ("Elena",) and ordinary == ("sparrow",)


def test_one_ordinary_word_in_lowercase_is_a_loose_trigger():
    coral = make("tech/coral", "Lift-coral", aliases=["coral"], keys=["coral roots"])
    bridge = make("places/bridge", "Meridian Bridge", aliases=["the bridge", "the Helm"])
    index = TriggerIndex([coral, bridge])
    loose = {h.entry_id: h.loose for h in index.find(["coral beads on the bridge"])}
    assert loose == {"tech/coral": True, "places/bridge": True}
    assert {h.entry_id: h.loose for h in index.find(["the coral roots"])} == {"tech/coral": False}
    assert {h.entry_id: h.loose for h in index.find(["Lift-coral"])} == {"tech/coral": False}
    assert {h.entry_id: h.loose for h in index.find(["at the Helm"])} == {"places/bridge": False}


def test_a_capitalised_title_in_lowercase_is_loose_and_lowered():
    king = make("c/aldric", "Aldric Varre", aliases=["the King"])
    index = TriggerIndex([king, PATIENCE])
    hit = index.find(["She carries the king up the stairs."])[0]
    assert (hit.entry_id, hit.kind, hit.loose, hit.lowered) == ("c/aldric", "key", True, True)
    assert index.ordinary_uses("She carries the king up the stairs.") == {"c/aldric"}
    hit = index.find(["She bows to the King."])[0]
    assert (hit.loose, hit.lowered) == (False, False)
    assert index.find(["She ran out of patience."]) == []  # one word: the everyday word


def test_a_phrase_running_past_the_one_before_it_is_named_too():
    boat = make("boats/providence", "Providence", aliases=["the lifeboat"])
    house = make("places/lifeboat-house", "Lifeboat House", keys=["lifeboat slip"])
    harker = make("characters/harker", "Tom Harker", keys=["Harker Street"])
    index = TriggerIndex([boat, house, harker])
    found = {h.entry_id for h in index.find(["Get down to the lifeboat slip."])}
    assert found == {"boats/providence", "places/lifeboat-house"}
    assert {h.entry_id for h in index.find(["Get down to the lifeboat."])} == {"boats/providence"}
    # a phrase wholly inside a longer name is still part of that name
    assert [h.why for h in index.find(["Tom Harker waits."])] == ["name 'Tom Harker'"]
