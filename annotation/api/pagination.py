"""The API's pagination, in a module of its own: DRF imports it from settings while
rest_framework.generics is still loading, so it must not import views."""

from rest_framework.pagination import PageNumberPagination


class ApiPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
