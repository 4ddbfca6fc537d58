import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from events.models import Channel, EventConfiguration, EventField, Targeting
from organisations.models import Membership
from organisations.selectors import unit_root


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


def membership_inline(user=None, unit=None) -> dict:
    """The user admin's unit inline as a form posts it: the user's membership, or `unit` (the root
    by default) for a user without one."""
    membership = Membership.objects.filter(user=user).first() if user is not None else None
    data = {
        "membership-TOTAL_FORMS": "1",
        "membership-INITIAL_FORMS": "1" if membership else "0",
        "membership-MIN_NUM_FORMS": "1",
        "membership-MAX_NUM_FORMS": "1",
        "membership-0-unit": str(membership.unit_id if membership else (unit or unit_root()).pk),
    }
    if membership:
        data |= {"membership-0-id": str(membership.pk), "membership-0-user": str(user.pk)}
    return data
