#!/usr/bin/env bash
# The admin's translations (docs/translations.md): extracts every marked string of the project
# into locale/<language>/LC_MESSAGES/django.po (djangojs.po for the scripts), then compiles each
# catalogue into its .mo.
#
#   scripts/messages.sh            extract (needs GNU gettext: apt-get install -y gettext), compile
#   scripts/messages.sh extract    extract only
#   scripts/messages.sh compile    compile only (Babel, pinned in requirements.txt: no gettext needed)
#
# After extracting, translate the new or changed entries (empty msgstr, or marked "fuzzy") in the
# .po file, remove their "fuzzy" flag, then compile, and commit the .po and the .mo together.
# tests/campaign/test_translations.py fails while an entry is untranslated or fuzzy, or while the
# catalogue misses a string of the source.
set -euo pipefail
cd "$(dirname "$0")/.."
LANGUAGES=(fr)
DOMAINS=(django djangojs)
# MESSAGES_PYTHON: a Python with the requirements installed (the test runs the script with its own).
if [ -n "${MESSAGES_PYTHON:-}" ]; then
  PY="$MESSAGES_PYTHON"
else
  source scripts/bootstrap.sh
  PY=python
fi
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-campaign.settings.local}"
step="${1:-all}"

if [ "$step" = all ] || [ "$step" = extract ]; then
  if ! command -v xgettext >/dev/null; then
    echo "Extracting needs GNU gettext (xgettext, msgmerge): apt-get install -y gettext" >&2
    exit 1
  fi
  # Two catalogues: django (Python code and templates) and djangojs (the admin's scripts, served
  # by the javascript-catalog view). File names without line numbers: a change elsewhere in a file
  # does not rewrite the catalogue.
  for domain in "${DOMAINS[@]}"; do
    "$PY" manage.py makemessages "${LANGUAGES[@]/#/--locale=}" --domain "$domain" --no-obsolete \
      --add-location file --ignore tests --ignore bench --ignore var --ignore staticfiles \
      --ignore node_modules --ignore scripts
  done
  # What is left to translate: new entries (empty) and changed ones (fuzzy, with a guess).
  for language in "${LANGUAGES[@]}"; do
    for domain in "${DOMAINS[@]}"; do
      po="locale/$language/LC_MESSAGES/$domain.po"
      todo=$( { msgattrib --untranslated --no-wrap "$po"; msgattrib --only-fuzzy --no-wrap "$po"; } |
        grep -c '^msgid "[^"]' || true)
      echo "$po: $todo entries to translate (empty msgstr or #, fuzzy)"
    done
  done
fi

if [ "$step" = all ] || [ "$step" = compile ]; then
  for language in "${LANGUAGES[@]}"; do
    for domain in "${DOMAINS[@]}"; do
      "$PY" -m babel.messages.frontend compile --domain "$domain" --directory locale --locale "$language" \
        --statistics
    done
  done
fi
