from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog

from accounts.views import own_password_change_view
from events.openapi import OpenApiSchemaView, RedocView, SwaggerView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Before the admin's own page of that path: the same page, writing through the audited service.
    path("admin/password_change/", admin.site.admin_view(own_password_change_view)),
    path("admin/reports/", include("reports.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    # The admin's language menu posts to set_language (campaign/middleware.py reads its cookie).
    path("i18n/", include("django.conf.urls.i18n")),
    # The translations of the admin's scripts (djangojs catalogue; messages_app/static, marketing/static).
    path(
        "i18n/js/",
        JavaScriptCatalog.as_view(packages=["messages_app", "marketing"]),
        name="javascript-catalog",
    ),
    path("", include("events.urls")),
    path("", include("delivery.urls")),
    path("", include("profiles.urls")),
]

admin.site.site_header = "Message Center"
admin.site.site_title = "Message Center"
admin.site.index_title = _("Transactional messaging")
handler403 = "campaign.views.permission_denied"

urlpatterns += [
    path("api/schema/", OpenApiSchemaView.as_view(), name="api-schema"),
    path("api/docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
