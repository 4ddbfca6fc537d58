from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from accounts.views import own_password_change_view
from events.openapi import OpenApiSchemaView, RedocView, SwaggerView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Before the admin's own page of that path: the same page, writing through the audited service.
    path("admin/password_change/", admin.site.admin_view(own_password_change_view)),
    path("admin/reports/", include("reports.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("", include("events.urls")),
    path("", include("delivery.urls")),
    path("", include("profiles.urls")),
]

admin.site.site_header = "Message Center"
admin.site.site_title = "Message Center"
admin.site.index_title = "Transactional messaging"
handler403 = "campaign.views.permission_denied"

urlpatterns += [
    path("api/schema/", OpenApiSchemaView.as_view(), name="api-schema"),
    path("api/docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
