from django.contrib import admin
from django.urls import path

from . import views

urlpatterns = [
    path("", admin.site.admin_view(views.global_report), name="reports-global"),
    path("messages/<int:message_pk>/", admin.site.admin_view(views.message_report), name="reports-message"),
]
