"""CSV import of profiles: the check (preview, per-row report), upsert on a chosen key, one
transaction, suppressed addresses, the commands, and the CSV export."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from profiles.imports import (
    ImportRefused,
    profile_import_apply,
    profile_import_cancel,
    profile_import_check,
    profile_import_confirm,
    profile_import_create,
)
from profiles.models import (
    AttributeDefinition,
    ImportRowAction,
    ImportStatus,
    Profile,
    ProfileImportChunk,
    ProfileImportRow,
    Service,
    Subscription,
    SubscriptionSource,
)
from profiles.services import suppression_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(db):
    AttributeDefinition.objects.create(name="points", label="Points", type="decimal")
    AttributeDefinition.objects.create(name="member_since", label="Member since", type="date")
    Service.objects.create(name="newsletter", label="Newsletter")
    Service.objects.create(name="orders", label="Order updates")


def checked(text: str, key: str = "email"):
    job = profile_import_create(chunks=iter([text.encode()]), file_name="profiles.csv", key=key)
    return profile_import_check(profile_import_id=job.pk)


def imported(text: str, key: str = "email"):
    job = checked(text, key)
    assert job.status == ImportStatus.CHECKED, job.error
    profile_import_confirm(profile_import_id=job.pk)
    return profile_import_apply(profile_import_id=job.pk)


def report(job) -> list[tuple[int, str, str]]:
    return [
        (row.line, problem["column"], problem["problem"])
        for row in ProfileImportRow.objects.filter(
            profile_import=job, action__in=[ImportRowAction.INVALID, ImportRowAction.SKIPPED]
        ).order_by("line")
        for problem in row.problems
    ]


BAD_FILE = """email,first_name,mobile_phone,subscriptions,attributes.points,attributes.member_since,time_zone
new@example.com,Nina,+33611111111,newsletter,12.50,2020-01-31,Europe/Paris
jane@example.com,Janet,,newsletter|orders,,,
not-an-email,Bob,,,,,
bad.phone@example.com,Pat,0612345678,,,,
unknown.service@example.com,Sam,,weekly,,,
bad.number@example.com,Lou,,,lots,2020-02-30,Mars/Olympus
,Nobody,,,,,
NEW@example.com,Nina again,,,,,
"""


class TestCheck:
    def test_good_and_bad_rows_are_reported_by_row_and_column_and_nothing_is_imported(self, catalogue):
        jane = Profile.objects.create(email="jane@example.com", first_name="Jane")
        job = checked(BAD_FILE)

        assert job.status == ImportStatus.CHECKED
        assert (job.rows_total, job.rows_new, job.rows_update, job.rows_invalid) == (8, 1, 1, 6)
        assert report(job) == [
            (4, "email", "Enter a valid email address."),
            (5, "mobile_phone", "Expected a phone number in E.164, e.g. +33612345678."),
            (6, "subscriptions", "Unknown subscription service weekly (known: newsletter, orders)."),
            (7, "attributes.points", "Expected a decimal number, e.g. 80.50."),
            (7, "attributes.member_since", "Expected a date as YYYY-MM-DD."),
            (7, "time_zone", "Unknown time zone (expected e.g. Europe/Paris)."),
            (8, "email", "Empty: rows are matched to profiles by this column."),
            (9, "email", "The same email as row 2."),
        ]
        # The preview says what the good rows would change.
        update = ProfileImportRow.objects.get(profile_import=job, line=3)
        assert update.action == ImportRowAction.UPDATE
        assert update.changes == ["first_name", "subscriptions"]

        with pytest.raises(ImportRefused, match="6 rows have errors"):
            profile_import_confirm(profile_import_id=job.pk)
        assert list(Profile.objects.values_list("email", "first_name")) == [("jane@example.com", "Jane")]
        assert not jane.subscriptions.exists()

    def test_a_file_without_the_key_column_or_with_unknown_columns_is_refused_whole(self, catalogue):
        job = checked("first_name,favourite_colour\nJane,blue\n")
        assert job.status == ImportStatus.FAILED
        assert "The file has no email column" in job.error
        assert "Unknown columns: favourite_colour" in job.error
        assert not Profile.objects.exists()

    def test_a_row_with_too_many_values_is_an_error_of_its_own(self, catalogue):
        job = checked("email,first_name\na@example.com,Ann\nb@example.com,Bob,extra\n")
        assert report(job) == [(3, "", "3 values where the header has 2 columns.")]

    def test_a_file_that_is_not_utf8_is_refused(self, catalogue):
        job = profile_import_create(
            chunks=iter(["email,first_name\nzoe@example.com,Zoë\n".encode("latin-1")]),
            file_name="latin.csv",
            key="email",
        )
        job = profile_import_check(profile_import_id=job.pk)
        assert job.status == ImportStatus.FAILED
        assert "not UTF-8" in job.error

    def test_semicolon_separated_files_are_read(self, catalogue):
        job = imported("email;first_name\nsemi@example.com;Séverine\n")
        assert job.status == ImportStatus.DONE
        assert Profile.objects.get(email="semi@example.com").first_name == "Séverine"

    def test_cancel_deletes_the_file_and_the_staged_rows(self, catalogue):
        job = checked("email,first_name\na@example.com,Ann\n")
        profile_import_cancel(profile_import_id=job.pk)
        assert not ProfileImportChunk.objects.filter(profile_import=job).exists()
        assert not ProfileImportRow.objects.filter(profile_import=job).exists()
        assert not Profile.objects.exists()


class TestApply:
    def test_upsert_by_email_regardless_of_case(self, catalogue):
        jane = Profile.objects.create(
            email="jane@example.com", first_name="Jane", last_name="Doe", attributes={"points": "1.00"}
        )
        unchanged = Profile.objects.create(email="same@example.com", first_name="Sam")
        left = Service.objects.get(name="orders")
        Subscription.objects.create(
            profile=jane,
            service=left,
            subscribed_at=datetime(2020, 1, 1, tzinfo=UTC),
            unsubscribed_at=datetime(2021, 1, 1, tzinfo=UTC),
        )
        job = imported(
            "email,first_name,subscriptions,attributes.points,attributes.member_since,email_opted_out_at\n"
            "JANE@example.com,Janet,newsletter|orders,80.5,2019-05-01,2026-01-02T03:04:05Z\n"
            "new@example.com,Nina,orders,,,\n"
            "same@example.com,Sam,,,,\n"
        )
        assert job.status == ImportStatus.DONE
        assert (job.rows_new, job.rows_update, job.rows_unchanged, job.rows_applied) == (1, 1, 1, 2)
        jane.refresh_from_db()
        assert (jane.email, jane.first_name, jane.last_name) == ("jane@example.com", "Janet", "Doe")
        assert jane.attributes == {"points": "80.5", "member_since": "2019-05-01"}
        assert jane.email_opted_out_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        # Subscribed to the newsletter by the import; still out of the service it left.
        subscriptions = {s.service.name: s for s in jane.subscriptions.select_related("service")}
        assert subscriptions["newsletter"].source == SubscriptionSource.IMPORT
        assert subscriptions["orders"].unsubscribed_at is not None
        nina = Profile.objects.get(email="new@example.com")
        assert [s.service.name for s in nina.subscriptions.all()] == ["orders"]
        assert Profile.objects.count() == 3
        unchanged.refresh_from_db()
        assert unchanged.first_name == "Sam"
        # The file and its staged rows are gone.
        assert not ProfileImportChunk.objects.exists()
        assert not ProfileImportRow.objects.exists()

    def test_upsert_by_external_id_changes_the_email(self, catalogue):
        profile = Profile.objects.create(external_id="C-42", email="old@example.com")
        job = imported(
            "external_id,email,last_name\nC-42,new@example.com,Martin\nC-43,,Durand\n", key="external_id"
        )
        assert (job.rows_new, job.rows_update) == (1, 1)
        profile.refresh_from_db()
        assert (profile.email, profile.last_name) == ("new@example.com", "Martin")
        assert Profile.objects.get(external_id="C-43").last_name == "Durand"

    def test_upsert_by_mobile_phone(self, catalogue):
        Profile.objects.create(mobile_phone="+33600000001", first_name="Old")
        job = imported("mobile_phone,first_name\n+33600000001,New\n", key="mobile_phone")
        assert job.rows_update == 1
        assert Profile.objects.get(mobile_phone="+33600000001").first_name == "New"

    def test_a_failure_while_applying_rolls_back_every_row(
        self, catalogue, settings, postgresql_only, monkeypatch
    ):
        """A row refused by the database in the second batch: the first batch is not kept."""
        monkeypatch.setattr("profiles.imports.APPLY_BATCH_ROWS", 2)
        rows = "".join(f"p{n}@example.com,P{n}\n" for n in range(5))
        job = checked("email,first_name\n" + rows)
        assert job.rows_new == 5
        # What the database refuses (a phone longer than its column) slipped into a staged row.
        staged = ProfileImportRow.objects.get(profile_import=job, line=5)
        staged.data = {**staged.data, "mobile_phone": "+3" + "3" * 40}
        staged.save()
        profile_import_confirm(profile_import_id=job.pk)
        job = profile_import_apply(profile_import_id=job.pk)
        assert job.status == ImportStatus.FAILED
        assert job.error.startswith("Nothing was imported")
        assert not Profile.objects.exists()

    def test_suppressed_addresses_are_skipped_with_their_reason(self, catalogue):
        suppression_add(channel="email", address="Erased@Example.com")
        suppression_add(channel="sms", address="+33699999999")
        job = checked(
            "email,mobile_phone,first_name\n"
            "erased@example.com,,Back\n"
            "other@example.com,+33699999999,Again\n"
            "fine@example.com,,Fine\n"
        )
        assert (job.rows_new, job.rows_skipped, job.rows_invalid) == (1, 2, 0)
        assert report(job) == [
            (2, "", "Skipped: this email belongs to an erased profile and may not be imported again."),
            (3, "", "Skipped: this mobile phone belongs to an erased profile and may not be imported again."),
        ]
        profile_import_confirm(profile_import_id=job.pk)
        profile_import_apply(profile_import_id=job.pk)
        assert list(Profile.objects.values_list("email", flat=True)) == ["fine@example.com"]

    def test_an_address_suppressed_after_the_check_is_skipped_when_applying(self, catalogue):
        job = checked("email,first_name\nlate@example.com,Late\nok@example.com,Ok\n")
        suppression_add(channel="email", address="late@example.com")
        profile_import_confirm(profile_import_id=job.pk)
        job = profile_import_apply(profile_import_id=job.pk)
        assert (job.rows_applied, job.rows_skipped) == (1, 1)
        assert list(Profile.objects.values_list("email", flat=True)) == ["ok@example.com"]

    def test_a_confirmed_import_applied_twice_writes_once(self, catalogue):
        job = checked("email,first_name\nonce@example.com,Once\n")
        profile_import_confirm(profile_import_id=job.pk)
        profile_import_apply(profile_import_id=job.pk)
        profile_import_apply(profile_import_id=job.pk)
        assert Profile.objects.filter(email="once@example.com").count() == 1


class TestCommands:
    def test_import_command_imports_a_good_file(self, catalogue, tmp_path):
        path = tmp_path / "profiles.csv"
        path.write_text("email,first_name,subscriptions\na@example.com,Ann,newsletter\nb@example.com,Bob,\n")
        out = io.StringIO()
        call_command("import_profiles", str(path), stdout=out, stderr=io.StringIO())
        assert "new=2" in out.getvalue()
        assert "imported=2" in out.getvalue()
        assert Profile.objects.count() == 2

    def test_import_command_refuses_a_bad_file_and_writes_the_report(self, catalogue, tmp_path):
        path = tmp_path / "profiles.csv"
        path.write_text("email,first_name\na@example.com,Ann\nnot-an-email,Bob\n")
        report_path = tmp_path / "report.csv"
        with pytest.raises(CommandError, match="1 rows have errors: nothing was imported"):
            call_command(
                "import_profiles",
                str(path),
                "--report",
                str(report_path),
                stdout=io.StringIO(),
                stderr=io.StringIO(),
            )
        assert list(csv.reader(report_path.open())) == [
            ["row", "column", "problem", "outcome"],
            ["3", "email", "Enter a valid email address.", "invalid"],
        ]
        assert not Profile.objects.exists()

    def test_export_then_import_gives_back_the_same_profiles(self, catalogue, tmp_path):
        newsletter = Service.objects.get(name="newsletter")
        ann = Profile.objects.create(
            email="ann@example.com",
            first_name="Ann",
            attributes={"points": "12.5", "member_since": "2020-01-31"},
        )
        Subscription.objects.create(
            profile=ann, service=newsletter, subscribed_at=datetime(2020, 1, 1, tzinfo=UTC)
        )
        Profile.objects.create(email="bob@example.com", first_name="Bob", language="fr")
        path = tmp_path / "export.csv"
        call_command("export_profiles", "-o", str(path), stderr=io.StringIO())
        rows = list(csv.DictReader(path.open()))
        assert [(r["email"], r["first_name"], r["subscriptions"], r["attributes.points"]) for r in rows] == [
            ("ann@example.com", "Ann", "newsletter", "12.5"),
            ("bob@example.com", "Bob", "", ""),
        ]
        out = io.StringIO()
        call_command("import_profiles", str(path), "--dry-run", stdout=out, stderr=io.StringIO())
        assert "unchanged=2" in out.getvalue()

        fr = tmp_path / "fr.csv"
        call_command("export_profiles", "-o", str(fr), "--language", "fr", stderr=io.StringIO())
        assert [r["email"] for r in csv.DictReader(fr.open())] == ["bob@example.com"]


def test_a_formula_is_exported_behind_a_quote_and_imported_back_as_it_was(catalogue, tmp_path):
    Profile.objects.create(
        email="eve@example.com",
        first_name='=HYPERLINK("http://evil.example","x")',
        last_name="-Smith",
        mobile_phone="+33612345678",
        attributes={"points": "-12.5"},
    )
    path = tmp_path / "export.csv"
    call_command("export_profiles", "-o", str(path), stderr=io.StringIO())
    [row] = list(csv.DictReader(path.open()))
    assert row["first_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert (row["last_name"], row["mobile_phone"], row["attributes.points"]) == (
        "'-Smith",
        "+33612345678",
        "-12.5",
    )
    out = io.StringIO()
    call_command("import_profiles", str(path), "--dry-run", stdout=out, stderr=io.StringIO())
    assert "unchanged=1" in out.getvalue()


class TestAdmin:
    def test_the_list_exports_the_filtered_profiles_as_csv(self, client, administrator, catalogue):
        Profile.objects.create(email="fr@example.com", language="fr")
        Profile.objects.create(email="en@example.com", language="en")
        client.force_login(administrator)
        response = client.get("/admin/profiles/profile/export/?language__exact=fr")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert [row["email"] for row in rows] == ["fr@example.com"]

    def test_the_selected_profiles_export_as_csv(self, client, administrator, catalogue):
        chosen = Profile.objects.create(email="chosen@example.com")
        Profile.objects.create(email="other@example.com")
        client.force_login(administrator)
        response = client.post(
            "/admin/profiles/profile/",
            {"action": "export_selected", "_selected_action": [chosen.pk]},
        )
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert [row["email"] for row in rows] == ["chosen@example.com"]

    def test_the_report_downloads_as_csv(self, client, administrator, catalogue):
        job = checked("email,first_name\nnot-an-email,Bob\n")
        client.force_login(administrator)
        response = client.get(f"/admin/profiles/profile/import/{job.pk}/report.csv")
        lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert lines == [
            ["row", "column", "problem", "outcome"],
            ["2", "email", "Enter a valid email address.", "Error"],
        ]

    def test_a_marketer_may_not_import(self, client, marketer):
        client.force_login(marketer)
        assert client.get("/admin/profiles/profile/import/").status_code == 403


def test_the_import_is_checked_in_chunks(catalogue, settings):
    """Rows are checked a chunk at a time (here 3): rows of every chunk are staged and counted."""
    settings.PROFILE_IMPORT_CHUNK_ROWS = 3
    rows = "".join(f"c{n}@example.com,C{n}\n" for n in range(10))
    job = checked("email,first_name\n" + rows + "c4@example.com,dup\n")
    assert (job.rows_total, job.rows_new, job.rows_invalid) == (11, 10, 1)
    assert report(job) == [(12, "email", "The same email as row 6.")]
