from django.urls import path

from .views import two_factor_verify_view, two_factor_view

app_name = "accounts"
urlpatterns = [
    path("two-factor/", two_factor_view, name="two_factor"),
    path("two-factor/verify/", two_factor_verify_view, name="two_factor_verify"),
]
