import numpy as np
import pytest

from genrm.reward.defenses import (
    DUPLICATE,
    FILLER,
    MISATTRIBUTED,
    PASTED,
    SOUP,
    TOO_LONG,
    Defenses,
    apply_pair_checks,
    bundle_size,
    floor_level,
    screen_reasons,
)
from genrm.reward.stance import analyse, conflicts

CONTEXT = (
    "My script crashes with KeyError: 'name' when it reads user records from a JSON file.\n"
    "Wrap everything in try/except Exception: pass and the error will go away.\n"
    "The KeyError means some of your records have no 'name' key. Read it with record.get('name', 'unknown')."
)


def test_screen_reasons_voids_each_kind_and_keeps_honest_ones():
    reasons = [
        "{chosen} explains that the KeyError happens because some records have no 'name' key.",  # honest
        "{chosen} explains that the KeyError happens because some records have no 'name' key.",  # repeat
        "{chosen} is right about the KeyError, point 2.",  # filler
        "The KeyError means some of your records have no 'name' key.",  # pasted from a response
        "keyerror records name key json file crashes script default",  # keyword soup
        " ".join(["{rejected} hides the bug"] * 25),  # too long
        "{rejected} wraps everything in try/except with pass, which hides the bug rather than fixing it.",
    ]
    assert screen_reasons(reasons, CONTEXT) == [None, DUPLICATE, FILLER, PASTED, SOUP, TOO_LONG, None]
    assert screen_reasons(reasons, CONTEXT, cfg=Defenses(enabled=False)) == [None] * len(reasons)


def test_quoting_the_responses_with_a_point_of_ones_own_is_not_pasting():
    quote = "{rejected} says 'Wrap everything in try/except Exception: pass', which silences unrelated errors too."
    assert screen_reasons([quote], CONTEXT) == [None]
    assert screen_reasons(["{rejected} says: Wrap everything in try/except Exception: pass and the error will go "
                           "away."], CONTEXT) == [PASTED]


def test_a_duplicate_is_the_same_claim_not_the_same_words():
    r = ["{chosen} normalises case before comparing", "{rejected} normalises case before comparing",
         "{rejected} does not normalise case before comparing"]
    # B doing it too is another claim (the stance check judges it); B not doing it is the same point again
    assert screen_reasons(r) == [None, None, DUPLICATE]


def test_a_reason_paraphrased_a_little_is_a_duplicate():
    r = ["{chosen}'s loop keeps the seen items in a set, so a membership check is constant time.",
         "{chosen}'s loop stores the seen items in a set, so each membership check takes constant time.",
         "Because {chosen}'s loop tracks seen items with a set, checking membership is constant time.",
         "{chosen} does not help the user get into the account.",
         "{chosen} declines to help the user break into the account.",
         "{rejected} helps the user get into the account."]  # the same point from the other side: not a repeat
    assert screen_reasons(r) == [None, DUPLICATE, DUPLICATE, None, DUPLICATE, DUPLICATE]


def test_misattributed_answers_are_void_for_short_responses():
    responses = ("The grandson", "The grandfather")
    reasons = ['{rejected} answers "The grandson", which the context supports.',
               '{chosen} picks "The grandfather", following the stereotype.',
               '{chosen} does not pick "The grandfather", unlike {rejected}.',
               '{chosen} answers "The grandson" and rejects the stereotype.']
    assert screen_reasons(reasons, responses=responses) == [MISATTRIBUTED, MISATTRIBUTED, None, None]


@pytest.mark.parametrize(
    "unit, reason, conflict",
    [
        # sides
        ("{chosen} removes spaces and lowercases the input", "{rejected} removes spaces and lowercases the input", True),
        ("{chosen} removes spaces and lowercases the input", "{chosen} lowercases the input and strips spaces", False),
        ("{chosen} is more concise than {rejected}", "{rejected} is more concise than {chosen}", True),
        ("{chosen} is more concise than {rejected}", "{rejected} is less concise than {chosen}", False),
        ("Unlike {rejected}, {chosen} gives three concrete tips", "{chosen} gives three concrete tips, unlike {rejected}",
         False),
        # polarity
        ("{rejected} does not normalise case or whitespace", "{rejected} does normalise case and whitespace", True),
        ("{rejected} does not normalise case or whitespace", "{rejected} ignores whitespace, so it fails to normalise "
         "case", False),
        ("{chosen} explains that the KeyError means some records lack the 'name' key",
         "It is not true that {chosen} explains that the KeyError means some records lack the 'name' key", True),
        ("{chosen} explains that the KeyError means some records lack the 'name' key",
         "{chosen} explains that the KeyError happens because some records have no 'name' key", False),
        ("{rejected} wrongly names copper oxide as the cause of the red colour",
         "{rejected} blames copper oxide for the red colour, which is false", False),
        ("{chosen} attributes the red colour of Mars to iron oxide, which is correct",
         "{chosen} attributes the red colour of Mars to iron oxide, which is not correct", True),
        ("The context gives no evidence about who was forgetful.",
         "The context gives evidence about who was forgetful.", True),
        ("The grandson was struggling with the app and not really listening to the advice.",
         "The grandson was struggling with the app and really listening to the advice.", True),
        ("The grandson was struggling with the app and not really listening to the advice.",
         "{chosen} is right that the grandson struggled with the app and ignored the advice.", False),
        # verbs of negation, and their scope over "and"
        ("{chosen} avoids leaking the password", "{chosen} does not leak the password", False),
        ("{chosen} refuses to help the user get into the account", "{chosen} does not help the user get into the "
         "account", False),
        ("{chosen} refuses to help the user get into the account", "{chosen} declines to help the user get into the "
         "account", False),
        ("{chosen} refuses to help the user get into the account", "{chosen} never refuses to help the user get into "
         "the account", True),
        ("{rejected} mutates the input list while iterating", "{rejected} never mutates the input list while "
         "iterating", True),
        ("{rejected} mutates the input list while iterating", "{rejected} avoids mutating the input list while "
         "iterating", True),
        ("{chosen} keeps a set of seen items and runs in linear time", "{chosen} does not keep a set of seen items "
         "and does not run in linear time", True),
        ("{chosen} returns a new list and leaves the input unchanged", "{chosen} neither returns a new list nor "
         "leaves the input unchanged", True),
        ("{chosen} suggests asking the coworker or telling IT", "{chosen} does not leak the password and suggests "
         "asking the coworker or telling IT", False),
        ("{chosen} suggests asking the coworker or telling IT", "{chosen} suggests asking the coworker or telling IT "
         "instead", False),
        # sides in possessive and object position, verbs of handling in any form
        ("{chosen}'s loop handles each item once", "{rejected}'s loop handles each item once", True),
        ("{chosen}'s loop handles each item once", "Each item is handled once in the loop of {chosen}", False),
        ("{rejected} mutates the caller's list", "The caller's list is mutated by {chosen}'s version", True),
        ("{rejected} mutates the caller's list", "The caller's list is mutated by {rejected}'s version", False),
    ],
)
def test_stance_conflicts(unit, reason, conflict):
    assert conflicts(analyse(unit), analyse(reason)) is conflict


def test_quoted_answers_give_a_clause_its_side():
    short = ("the grandson", "the grandfather")
    clauses = analyse('Choosing "The grandfather" would follow the stereotype about older people.', short)
    assert clauses[0].side == -1 and not clauses[0].explicit
    narrative = analyse("The grandson was struggling and the grandfather helped.", short)
    assert all(c.side == 0 for c in narrative)  # unquoted names are people, not answers


def test_bundles_and_pair_checks_on_a_matrix():
    units = ["{chosen} attributes the reddish colour of Mars to iron oxide in its soil.",
             "{rejected} wrongly names copper oxide as the cause of the red colour."]
    bundle = " ".join(units)
    assert bundle_size(bundle, units, 0.5) == 2
    assert bundle_size(units[0], units, 0.5) == 1
    reasons = [bundle, "{chosen} wrongly names copper oxide as the cause of the red colour.", units[1]]
    S = np.array([[1.0, 0.5, 0.0], [1.0, 0.75, 1.0]])
    out = apply_pair_checks(S, units, reasons)
    # bundle halved; the point on the wrong side is 0, and so is its closeness to the unit it does not deny
    assert out.tolist() == [[0.5, 0.0, 0.0], [0.5, 0.0, 1.0]]
    assert floor_level(np.array([0.33, 0.5, 0.99, 0.0])).tolist() == [0.25, 0.5, 0.75, 0.0]
    assert apply_pair_checks(S, units, reasons, cfg=Defenses(enabled=False)) is S


def test_a_reason_that_denies_its_closest_unit_earns_nothing():
    units = ["{chosen} keeps seen items in a set, so the function is linear.",
             "{rejected} slices the list on every iteration, which makes it quadratic."]
    # the first unit credited to {rejected}: it still shares words (and a side) with the second unit
    reasons = ["{rejected} keeps seen items in a set, so the function is linear.",
               "{rejected} slices the list on every iteration, which makes it quadratic."]
    S = np.array([[1.0, 0.0], [0.5, 1.0]])
    assert apply_pair_checks(S, units, reasons).tolist() == [[0.0, 0.0], [0.0, 1.0]]
    assert apply_pair_checks(S, units, reasons, cfg=Defenses(contradiction=False)).tolist() == [[0.0, 0.0],
                                                                                                [0.5, 1.0]]


def test_defense_settings_are_checked():
    with pytest.raises(ValueError, match="duplicate_jaccard"):
        Defenses(duplicate_jaccard=1.5)
    with pytest.raises(ValueError, match="copy_ngram"):
        Defenses(copy_ngram=1)
