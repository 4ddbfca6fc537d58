from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("", include("events.urls")),
    path("", include("delivery.urls")),
]

admin.site.site_header = "Message Center"
admin.site.site_title = "Message Center"
admin.site.index_title = "Transactional messaging"
