"""The French catalogue: complete, compiled, and up to date with the source (docs/translations.md).

After adding or changing a marked string: `scripts/messages.sh`, translate the new entries in
locale/fr/LC_MESSAGES/django.po, `scripts/messages.sh compile`, commit the .po and the .mo.
"""

import io
import os
import re
import shutil
import subprocess
import sys

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tests.plugins import IN_CI, ROOT

LOCALE = ROOT / "locale"
LANGUAGES = ["fr"]
# django: the Python code and the templates; djangojs: the admin's scripts.
CATALOGUES = [(language, domain) for language in LANGUAGES for domain in ("django", "djangojs")]
# What the extraction reads: the project's code and templates, as scripts/messages.sh sees them.
NOT_SOURCE = shutil.ignore_patterns(
    ".*", "__pycache__", "tests", "bench", "var", "staticfiles", "node_modules", "locale", "*.sqlite3"
)
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|\{[^{}]*\}")


def catalogue(path):
    with open(path, "rb") as file:
        return read_po(file)


def msgids(cat) -> set:
    return {(m.context, m.id) for m in cat if m.id}


def placeholders(text: str) -> list[str]:
    # Literal braces of Jinja examples ({{ ctx.firstName }}) are text, kept as they are.
    return sorted(PLACEHOLDER.findall(text.replace("{{", "").replace("}}", "")))


@pytest.mark.parametrize(("language", "domain"), CATALOGUES)
def test_every_entry_is_translated_and_none_is_fuzzy(language, domain):
    cat = catalogue(LOCALE / language / "LC_MESSAGES" / f"{domain}.po")
    assert not cat.fuzzy, "the catalogue's header is marked fuzzy: it would not be compiled"
    untranslated = [
        m.id for m in cat if m.id and not all(m.string if isinstance(m.string, tuple) else [m.string])
    ]
    fuzzy = [m.id for m in cat if m.id and m.fuzzy]
    assert not untranslated, f"untranslated in {language}: {untranslated}"
    assert not fuzzy, f"fuzzy in {language}: {fuzzy}"
    assert len(cat) > (400 if domain == "django" else 2)


@pytest.mark.parametrize(("language", "domain"), CATALOGUES)
def test_each_translation_keeps_the_placeholders_of_its_source(language, domain):
    wrong = []
    for message in catalogue(LOCALE / language / "LC_MESSAGES" / f"{domain}.po"):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = placeholders(ids[-1])
        for string in strings:
            # A singular may say "1" in words instead of its count; every other placeholder stays.
            found = placeholders(string)
            if found != expected and not (len(ids) > 1 and set(found) < set(expected)):
                wrong.append((ids[0], string))
    assert not wrong, wrong


@pytest.mark.parametrize(("language", "domain"), CATALOGUES)
def test_the_compiled_catalogue_is_the_po_file_compiled(language, domain):
    folder = LOCALE / language / "LC_MESSAGES"
    compiled = io.BytesIO()
    write_mo(compiled, catalogue(folder / f"{domain}.po"))
    assert (folder / f"{domain}.mo").read_bytes() == compiled.getvalue(), (
        f"{domain}.mo is older than {domain}.po: run scripts/messages.sh compile"
    )


def test_the_catalogue_holds_every_marked_string_of_the_source(tmp_path):
    """Extracts the source's strings into a copy of the project, as scripts/messages.sh does, and
    compares them with the committed catalogue's."""
    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        message = "GNU gettext is not installed (apt-get install gettext): cannot extract the strings"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=NOT_SOURCE)
    (copy / "locale").mkdir()
    env = {**os.environ, "MESSAGES_PYTHON": sys.executable, "CAMPAIGN_VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        ["bash", "scripts/messages.sh", "extract"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for language, domain in CATALOGUES:
        source = msgids(catalogue(copy / "locale" / language / "LC_MESSAGES" / f"{domain}.po"))
        committed = msgids(catalogue(LOCALE / language / "LC_MESSAGES" / f"{domain}.po"))
        assert source - committed == set(), (
            f"strings of the source missing from {language}/{domain}.po: run scripts/messages.sh"
        )
        assert committed - source == set(), (
            f"strings of {language}/{domain}.po no longer in the source: run scripts/messages.sh"
        )


PROJECT_APPS = [
    "campaign",
    "integrations",
    "events",
    "messages_app",
    "delivery",
    "profiles",
    "typologies",
    "marketing",
    "organisations",
    "audit",
    "privacy",
    "reports",
]


def test_every_name_the_admin_shows_of_a_model_is_marked_for_translation():
    """Model and field names, help texts and choice labels: a string left unmarked (a field
    without a verbose name takes its attribute's name) stays English in the French admin."""
    from django.apps import apps
    from django.utils.functional import Promise

    unmarked = []
    for model in (m for label in PROJECT_APPS for m in apps.get_app_config(label).get_models()):
        name = model._meta.label
        for attribute in ("verbose_name", "verbose_name_plural"):
            if not isinstance(getattr(model._meta, attribute), Promise):
                unmarked.append(f"{name}.Meta.{attribute}")
        for field in model._meta.get_fields(include_hidden=False):
            if field.auto_created or not field.concrete:
                continue
            if not isinstance(field.verbose_name, Promise):
                unmarked.append(f"{name}.{field.name}: verbose name")
            if field.help_text and not isinstance(field.help_text, Promise):
                unmarked.append(f"{name}.{field.name}: help text")
            for _value, label in field.flatchoices or []:
                if not isinstance(label, Promise):
                    unmarked.append(f"{name}.{field.name}: choice {label!r}")
    assert not unmarked, unmarked
