"""campaigner.campaign.select: folders expanded once each, duplicate ids refused naming both, changes matched."""

from __future__ import annotations

from pathlib import Path

from campaigner.campaign.select import (
    Removed,
    campaign_id_of,
    expand,
    load_entries,
    refuse_duplicate_ids,
    touched,
)
from campaigner.recipients.reader import input_files


def test_expand_lists_folders_and_files_once(workdir: Path) -> None:
    files = expand(["campaigns", "campaigns/spring-sale-2026.yaml"])
    assert [str(f) for f in files] == ["campaigns/new-collection-image.yaml", "campaigns/spring-sale-2026.yaml"]
    assert expand([]) == files  # campaigns/ by default


def test_duplicate_ids_name_both_files(workdir: Path) -> None:
    copy = workdir / "campaigns" / "copy.yaml"
    copy.write_text((workdir / "campaigns/spring-sale-2026.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    entries = load_entries(expand(["campaigns"]))
    refuse_duplicate_ids(entries)
    errors = {str(e.path): e.errors for e in entries}
    hint = "(each campaign file needs its own id; a second file with the same id would be counted as already sent)"
    assert errors == {
        "campaigns/copy.yaml": [
            f"campaigns/copy.yaml:2:11: error: campaign id 'spring-sale-2026' is also used by "
            f"campaigns/spring-sale-2026.yaml {hint}"
        ],
        "campaigns/new-collection-image.yaml": [],
        "campaigns/spring-sale-2026.yaml": [
            f"campaigns/spring-sale-2026.yaml:2:11: error: campaign id 'spring-sale-2026' is also used by "
            f"campaigns/copy.yaml {hint}"
        ],
    }


def test_touched_follows_the_files_a_campaign_reads(workdir: Path) -> None:
    entries = load_entries(expand(["campaigns"]))

    def reads(loaded: object) -> list[Path]:
        return input_files(loaded.spec.recipients, loaded.base_dir)  # type: ignore[attr-defined]

    opt_outs = (workdir / "campaigns/recipients/opt-outs.csv").resolve()
    assert [e.name for e in touched(entries, {opt_outs}, reads)] == ["new-collection-2026", "spring-sale-2026"]
    image = (workdir / "campaigns/new-collection-image.yaml").resolve()
    assert [e.name for e in touched(entries, {image}, reads)] == ["new-collection-2026"]
    assert touched(entries, set(), reads) == []


def test_a_deleted_campaign_is_named_by_its_last_id() -> None:
    assert campaign_id_of("campaign: old-one\nscenario: {}\n") == "old-one"
    assert campaign_id_of("not: [valid") is None
    assert campaign_id_of("- a list") is None
    assert Removed("campaigns/old.yaml", "old-one").line() == (
        "removed: old-one (campaigns/old.yaml): nothing is recalled, its ledger record stays"
    )
