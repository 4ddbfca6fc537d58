from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView

from events.openapi import OpenApiSchemaView, RedocView, SwaggerView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    # The admin's language menu posts to set_language (campaign/middleware.py reads its cookie).
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("events.urls")),
    path("", include("delivery.urls")),
]

admin.site.site_header = "Message Center"
admin.site.site_title = "Message Center"
admin.site.index_title = _("Transactional messaging")

urlpatterns += [
    path("api/schema/", OpenApiSchemaView.as_view(), name="api-schema"),
    path("api/docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
