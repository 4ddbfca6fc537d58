import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from events.models import Channel, EventConfiguration, EventField, Targeting


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.django.Password("secret-pass")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        """UserFactory(role=ADMINISTRATORS) puts the user in that role group."""
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


class EventConfigurationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EventConfiguration

    event_id = factory.Sequence(lambda n: f"EVTtest{n}")
    label = factory.Sequence(lambda n: f"Test event {n}")
    channel = Channel.EMAIL
    targeting = Targeting.EVENT


class EventFieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EventField

    configuration = factory.SubFactory(EventConfigurationFactory)
    field_id = factory.Sequence(lambda n: f"field{n}")
    label = factory.LazyAttribute(lambda o: o.field_id)
    max_length = 100
    required = True
