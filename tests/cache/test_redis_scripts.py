"""The generation format: values carry the token, the generation key also names its source."""

from __future__ import annotations

from cache.redis_scripts import current_blob, new_generation, pack, source_of, token_of


def test_a_value_carries_only_the_token_so_any_source_id_fits() -> None:
    source = "https://img.example.com/" + "deep/" * 100 + "a b.jpg"  # longer than 255 bytes
    generation = new_generation(source).encode()
    value = pack(generation, b"blob")
    assert value[0] == len(token_of(generation)) < 64
    assert current_blob(generation, value) == b"blob"
    assert source_of(generation) == source


def test_another_generation_of_the_same_source_hides_the_value() -> None:
    first, second = (new_generation("s.jpg").encode() for _ in range(2))
    assert first != second
    assert current_blob(second, pack(first, b"blob")) is None
    assert current_blob(None, pack(first, b"blob")) is None


def test_a_generation_written_before_source_ids_still_matches_its_values() -> None:
    bare = b"18f3a.1c2.deadbeef"
    assert current_blob(bare, pack(bare, b"blob")) == b"blob"
    assert source_of(bare) is None
