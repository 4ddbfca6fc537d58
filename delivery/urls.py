from django.urls import include, path

from . import views

urlpatterns = [
    # anymail's tracking webhooks, one per ESP: /webhooks/anymail/<esp>/tracking/
    path("webhooks/anymail/", include("anymail.urls")),
    # Open pixel and click redirect of tracked emails (delivery/tracking.py).
    path("t/o/<str:token>/", views.tracking_open, name="tracking-open"),
    path("t/c/<str:token>/", views.tracking_click, name="tracking-click"),
]
