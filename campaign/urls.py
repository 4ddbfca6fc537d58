from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from events.openapi import OpenApiSchemaView, RedocView, SwaggerView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/reports/", include("reports.urls")),
    path("admin/", admin.site.urls),
    path("", include("events.urls")),
    path("", include("delivery.urls")),
]

admin.site.site_header = "Message Center"
admin.site.site_title = "Message Center"
admin.site.index_title = "Transactional messaging"

urlpatterns += [
    path("api/schema/", OpenApiSchemaView.as_view(), name="api-schema"),
    path("api/docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
