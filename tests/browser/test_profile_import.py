"""The profile CSV import in real Chromium: upload, the progress bar while the housekeeping task
runs, the preview and the per-row report, confirmation, the import; and the erase button."""

import re

import pytest
from playwright.sync_api import expect

from campaign.celery import app
from campaign.roles import ADMINISTRATORS
from profiles.models import Profile, ProfileImport, Service
from profiles.tasks import profile_import_apply_task, profile_import_check_task
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUEUE = "housekeeping"


def _purge() -> None:
    with app.connection_for_write() as connection:
        connection.default_channel.queue_declare(QUEUE, durable=True, auto_delete=False)
        connection.default_channel.queue_purge(QUEUE)


def _drain() -> list[tuple[str, list]]:
    tasks = []
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        while (message := channel.basic_get(QUEUE, no_ack=True)) is not None:
            args, _kwargs, _embed = message.decode()
            tasks.append((message.headers["task"], args))
    return tasks


@pytest.fixture
def housekeeping_queue():
    """The housekeeping queue, empty and consumed by no worker: the test takes the import's tasks
    out of it and runs them itself, while the page watches their progress."""
    _purge()
    yield _drain
    _purge()


def _upload(page, name: str, text: str, key: str = "email") -> None:
    page.goto("/admin/profiles/profile/")
    page.get_by_role("link", name="Import CSV").click()
    page.set_input_files("#id_file", files=[{"name": name, "mimeType": "text/csv", "buffer": text.encode()}])
    page.select_option("#id_key", key)
    page.get_by_role("button", name="Check the file").click()


def _no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_administrator_previews_then_imports_a_csv_file(login_page, housekeeping_queue):
    Service.objects.create(name="newsletter", label="Newsletter")
    Profile.objects.create(email="jane@example.com", first_name="Jane")
    page = login_page(UserFactory(role=ADMINISTRATORS))
    page.set_viewport_size({"width": 1366, "height": 900})

    # A file with a bad row: checked on the housekeeping queue, reported, and refused.
    _upload(page, "bad.csv", "email,first_name\nann@example.com,Ann\nnot-an-email,Bob\n")
    progress = page.get_by_role("progressbar")
    expect(progress).to_be_visible()
    expect(page.locator(".import-progress-label")).to_contain_text("Checking")
    job = ProfileImport.objects.get(file_name="bad.csv")
    assert housekeeping_queue() == [("profiles.tasks.profile_import_check_task", [job.pk])]
    profile_import_check_task(job.pk)
    # The page follows the task and shows the report once it ends.
    problems = page.locator("#import-problems")
    expect(problems).to_contain_text("Enter a valid email address.")
    expect(problems.locator("tbody tr")).to_have_count(1)
    expect(problems.locator("tbody tr td").nth(0)).to_have_text("3")
    expect(problems.locator("tbody tr td").nth(1)).to_have_text("email")
    expect(page.get_by_text("1 row has errors: nothing can be imported")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm the import")).to_have_count(0)
    assert _no_horizontal_overflow(page)
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".messagelist")).to_contain_text("nothing was imported")
    assert list(Profile.objects.values_list("email", flat=True)) == ["jane@example.com"]

    # A good file: the preview says what changes, and the import runs once confirmed.
    _upload(
        page,
        "good.csv",
        "email,first_name,subscriptions\nJANE@example.com,Janet,newsletter\nnina@example.com,Nina,\n",
    )
    expect(page.get_by_role("progressbar")).to_be_visible()
    job = ProfileImport.objects.get(file_name="good.csv")
    [(_task, args)] = housekeeping_queue()
    profile_import_check_task(*args)
    changes = page.locator("#import-changes")
    expect(changes.locator("tbody tr")).to_have_count(2)
    expect(changes.locator("tbody tr").nth(0)).to_contain_text("Update")
    expect(changes.locator("tbody tr").nth(0)).to_contain_text("first_name, subscriptions")
    expect(changes.locator("tbody tr").nth(1)).to_contain_text("New")
    assert Profile.objects.count() == 1

    page.get_by_role("button", name="Confirm the import").click()
    expect(page.get_by_role("progressbar")).to_be_visible()
    expect(page.locator(".import-progress-label")).to_contain_text("Importing")
    assert housekeeping_queue() == [("profiles.tasks.profile_import_apply_task", [job.pk])]
    profile_import_apply_task(job.pk)
    expect(page.locator(".import-progress-label")).to_have_text("Imported")
    expect(page.locator(".import-counts")).to_contain_text(re.compile(r"Imported:\s*2"))
    assert _no_horizontal_overflow(page)
    page.get_by_role("link", name="See the profiles").click()
    expect(page.locator("#result_list")).to_contain_text("nina@example.com")
    assert Profile.objects.get(email="jane@example.com").first_name == "Janet"


def test_an_administrator_erases_a_profile_after_confirming(login_page):
    profile = Profile.objects.create(email="gone@example.com", first_name="Gone")
    page = login_page(UserFactory(role=ADMINISTRATORS))
    page.goto(f"/admin/profiles/profile/{profile.pk}/change/")
    page.get_by_role("link", name="Erase personal data").click()
    expect(page.get_by_text("This cannot be undone.")).to_be_visible()
    page.get_by_role("button", name="Yes, erase this profile").click()
    expect(page.locator(".messagelist")).to_contain_text("personal data was erased")
    assert not Profile.objects.exists()
