from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Human reviews"

    def ready(self):
        from judging.hooks import set_after_run_judged

        set_after_run_judged("reviews.route_job")  # routes the pairs a "fill the holes" job judged
