"""Loading a world folder: malformed files are reported with file:line and skipped."""

from pathlib import Path

from retrieval.world import load_world


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def entry(name: str, extra: str = "", body: str = "Some text.") -> str:
    return f"---\nname: {name}\n{extra}---\n{body}\n"


def test_malformed_files_are_reported_and_skipped_rest_loads(tmp_path):
    write(tmp_path, "world.yaml", "name: Test\nbudget_tokens: 300\n")
    write(tmp_path, "characters/good.md", entry("Good", "related: [places/home]\n"))
    write(tmp_path, "places/home.md", entry("Home"))
    bad_yaml = write(tmp_path, "characters/bad.md", "---\nname: Bad\naliases: [x\n---\nB.\n")
    dangling = write(tmp_path, "characters/dangling.md",
                     entry("Dangling", "related:\n  - places/home\n  - places/nowhere\n"))
    unknown = write(tmp_path, "tech/typo.md", entry("Typo", "alias: [T]\n"))
    write(tmp_path, "README.md", "# not an entry\n")
    write(tmp_path, "characters/README.md", "# not an entry either\n")

    world = load_world(tmp_path)

    assert sorted(world.entries) == ["characters/good", "places/home"]
    assert world.budget_tokens == 300
    by_file = {issue.file: issue for issue in world.issues}
    assert set(by_file) == {bad_yaml, dangling, unknown}
    assert by_file[dangling].line == 5  # the line naming the missing id
    assert "places/nowhere" in by_file[dangling].message
    assert by_file[unknown].line == 3
    rendered = str(by_file[unknown])
    assert rendered.endswith("tech/typo.md:3: unknown field 'alias' (did you mean 'aliases'?)")


def test_duplicate_ids_keep_the_first_file_in_sorted_order(tmp_path):
    write(tmp_path, "places/Home.md", entry("Home"))
    duplicate = write(tmp_path, "places/home.MD", entry("Other home"))
    world = load_world(tmp_path)
    assert list(world.entries) == ["places/Home"]
    assert world.entries["places/Home"].name == "Home"
    assert [issue.file for issue in world.issues] == [duplicate]
    assert "duplicate id" in world.issues[0].message


def test_bad_world_yaml_is_an_issue_not_a_failure(tmp_path):
    write(tmp_path, "world.yaml", "budget_tokens: lots\ncolour: blue\n")
    write(tmp_path, "lore/a.md", entry("A"))
    world = load_world(tmp_path)
    assert list(world.entries) == ["lore/a"]
    assert world.budget_tokens is None
    messages = sorted(issue.message for issue in world.issues)
    assert any("budget_tokens" in m for m in messages)
    assert any("colour" in m for m in messages)


def test_world_yaml_names_the_worlds_voice_and_a_bad_name_is_an_issue(tmp_path):
    write(tmp_path, "world.yaml", "voice: noir\n")
    assert load_world(tmp_path).voice == "noir"
    write(tmp_path, "world.yaml", "voice: Noir Detective\n")
    world = load_world(tmp_path)
    assert world.voice is None
    assert [i.line for i in world.issues] == [1] and "voice must be" in world.issues[0].message


def test_parse_cache_reparses_only_changed_files(tmp_path, monkeypatch):
    import retrieval.world as world_module

    for index in range(5):
        write(tmp_path, f"lore/e{index}.md", entry(f"E{index}"))
    cache: dict = {}
    load_world(tmp_path, cache)
    parsed: list[str] = []
    real = world_module.parse_entry
    monkeypatch.setattr(world_module, "parse_entry",
                        lambda text, rel, path: parsed.append(rel) or real(text, rel, path))
    write(tmp_path, "lore/e3.md", entry("E3", body="Changed text."))
    (tmp_path / "lore/e4.md").unlink()
    world = load_world(tmp_path, cache)
    assert parsed == ["lore/e3.md"]
    assert world.entries["lore/e3"].body == "Changed text."
    assert "lore/e4" not in world.entries and "lore/e4.md" not in cache
