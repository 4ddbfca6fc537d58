from django.db import connection
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from campaign.urls import urlpatterns as product_urlpatterns

FLOOR_TABLE = "bench_floor"


@csrf_exempt
def floor_insert(request):
    """The framework's floor on this machine: the same JSON stored in a table, without parsing,
    validation, authentication, rate limiting or enqueueing."""
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {FLOOR_TABLE} (body) VALUES (%s)", [request.body.decode()])  # noqa: S608
    return HttpResponse(b'{"status":"stored"}', status=202, content_type="application/json")


urlpatterns = [path("floor", floor_insert), *product_urlpatterns]
