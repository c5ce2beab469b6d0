from django import forms
from django.contrib.auth import password_validation

from apps.accounts.models import Role


class SignupForm(forms.Form):
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    workspace_name = forms.CharField(max_length=120, label="Workspace name")

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        password_validation.validate_password(password)
        return password


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=120)


class MemberForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices)
