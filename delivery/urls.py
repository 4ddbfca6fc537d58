from django.urls import include, path

urlpatterns = [
    # anymail's tracking webhooks, one per ESP: /webhooks/anymail/<esp>/tracking/
    path("webhooks/anymail/", include("anymail.urls")),
]
