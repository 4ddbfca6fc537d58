"""The profile list's CSV import screens: upload, the check's progress, the preview and the per-row
error report, confirmation, the import's progress. Every step calls profiles.imports; the check
and the import run on a worker (housekeeping queue)."""

import csv

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .imports import ImportRefused, profile_import_cancel, profile_import_confirm, profile_import_create
from .models import ImportKey, ImportRowAction, ImportStatus, ProfileImport
from .resources import ProfileResource
from .tasks import profile_import_apply_enqueue, profile_import_check_enqueue

# Rows the preview and the error report show on the page (the whole report downloads as CSV).
PAGE_ROWS = 100


class ProfileImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"), help_text=_("UTF-8, comma- or semicolon-separated, with a header row.")
    )
    key = forms.ChoiceField(
        label=_("Match profiles by"),
        choices=ImportKey.choices,
        initial=ImportKey.EMAIL,
        help_text=_("A row whose value is a stored profile's updates it; any other row creates a profile."),
    )


class _Echo:
    def write(self, value):
        return value


def _progress(job: ProfileImport) -> dict:
    if job.status == ImportStatus.CHECKING:
        done, total = job.bytes_checked, job.file_size or 1
    elif job.status == ImportStatus.APPLYING:
        done, total = job.rows_applied, (job.rows_new + job.rows_update) or 1
    else:
        done = total = 1
    return {
        "status": job.status,
        "status_label": str(job.get_status_display()),
        "done": done,
        "total": total,
        "percent": min(100, round(100 * done / total)),
        "running": job.status in (ImportStatus.CHECKING, ImportStatus.APPLYING),
    }


class ProfileImportAdminMixin:
    """Adds the import screens to the profile admin, for users who may add and change profiles."""

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("import/", view(self.import_upload_view), name="profiles_profile_import"),
            path("import/<int:import_id>/", view(self.import_job_view), name="profiles_profile_import_job"),
            path(
                "import/<int:import_id>/progress/",
                view(self.import_progress_view),
                name="profiles_profile_import_progress",
            ),
            path(
                "import/<int:import_id>/confirm/",
                view(self.import_confirm_view),
                name="profiles_profile_import_confirm",
            ),
            path(
                "import/<int:import_id>/cancel/",
                view(self.import_cancel_view),
                name="profiles_profile_import_cancel",
            ),
            path(
                "import/<int:import_id>/report.csv",
                view(self.import_report_view),
                name="profiles_profile_import_report",
            ),
            *super().get_urls(),
        ]

    def has_import_permission(self, request) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def _import_job(self, request, import_id) -> ProfileImport:
        if not self.has_import_permission(request):
            raise PermissionDenied
        return get_object_or_404(ProfileImport, pk=import_id)

    def _job_url(self, job: ProfileImport) -> str:
        return reverse("admin:profiles_profile_import_job", args=[job.pk], current_app=self.admin_site.name)

    def import_upload_view(self, request):
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = ProfileImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = profile_import_create(
                    chunks=upload.chunks(),
                    file_name=upload.name,
                    key=form.cleaned_data["key"],
                    user=request.user,
                )
            except ImportRefused as exc:
                form.add_error("file", exc.message)
            else:
                profile_import_check_enqueue(profile_import_id=job.pk)
                return HttpResponseRedirect(self._job_url(job))
        resource = ProfileResource()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Import profiles"),
            "form": form,
            "columns": list(resource.fields),
            "recent": ProfileImport.objects.select_related("created_by")[:10],
        }
        return TemplateResponse(request, "admin/profiles/profile/import_upload.html", context)

    def import_job_view(self, request, import_id):
        job = self._import_job(request, import_id)
        rows = job.rows.all()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Import of {file}").format(file=job.file_name),
            "job": job,
            "progress": _progress(job),
            "problems": rows.filter(action__in=[ImportRowAction.INVALID, ImportRowAction.SKIPPED])[
                :PAGE_ROWS
            ],
            "changes": rows.filter(action__in=[ImportRowAction.NEW, ImportRowAction.UPDATE])[:PAGE_ROWS],
            "page_rows": PAGE_ROWS,
            "can_confirm": job.status == ImportStatus.CHECKED and not job.rows_invalid,
            "can_cancel": job.status in (ImportStatus.CHECKING, ImportStatus.CHECKED),
        }
        return TemplateResponse(request, "admin/profiles/profile/import_job.html", context)

    def import_progress_view(self, request, import_id):
        return JsonResponse(_progress(self._import_job(request, import_id)))

    def import_confirm_view(self, request, import_id):
        job = self._import_job(request, import_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            profile_import_confirm(profile_import_id=job.pk)
        except ImportRefused as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            profile_import_apply_enqueue(profile_import_id=job.pk)
        return HttpResponseRedirect(self._job_url(job))

    def import_cancel_view(self, request, import_id):
        job = self._import_job(request, import_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        try:
            profile_import_cancel(profile_import_id=job.pk)
        except ImportRefused as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(
                request, gettext("The import was cancelled: nothing was imported."), messages.SUCCESS
            )
        return HttpResponseRedirect(self._job_url(job))

    def import_report_view(self, request, import_id):
        """Every row with a problem (error or skipped) as CSV: row, column, problem."""
        job = self._import_job(request, import_id)
        writer = csv.writer(_Echo())
        rows = job.rows.filter(action__in=[ImportRowAction.INVALID, ImportRowAction.SKIPPED]).order_by("line")

        def lines():
            yield writer.writerow([gettext("row"), gettext("column"), gettext("problem"), gettext("outcome")])
            for row in rows.iterator(chunk_size=1000):
                for problem in row.problems:
                    yield writer.writerow(
                        [row.line, problem["column"], problem["problem"], row.get_action_display()]
                    )

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-report.csv"'
        return response
