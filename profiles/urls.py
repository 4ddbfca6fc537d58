from django.urls import path

from .views import unsubscribe_view

urlpatterns = [
    # The signed token holds ':' separators (django.core.signing).
    path("unsubscribe/<str:token>/", unsubscribe_view, name="unsubscribe"),
]
