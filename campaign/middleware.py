"""The language of each request: the admin speaks its user's language, the APIs English."""

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

# Pages for people: the admin and the language switch. Everything else (the trigger and status
# API, /api/ docs and schema, provider webhooks) answers in LANGUAGE_CODE whatever the client's
# Accept-Language, so that API messages and the OpenAPI schema never change with the caller.
HTML_PREFIXES = ("/admin/", "/i18n/")


def is_html_path(path: str) -> bool:
    return path.startswith(HTML_PREFIXES)


class AdminLocaleMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware (language cookie set by the admin's menu, else Accept-Language)
    on the admin's pages only; LANGUAGE_CODE on every other path."""

    def process_request(self, request):
        if is_html_path(request.path_info):
            super().process_request(request)
            return
        translation.activate(settings.LANGUAGE_CODE)
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request, response):
        if is_html_path(request.path_info):
            return super().process_response(request, response)
        return response
