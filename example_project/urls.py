"""The example project's URLs: the admin and the Kakiyo webhook under /kakiyo/."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("kakiyo/", include("django_kakiyo.urls")),
]
